import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** Field names whose values are secrets wherever they appear in a log record. */
const REDACTED_PATHS = [
  'token',
  '*.token',
  'networkToken',
  '*.networkToken',
  'network_token',
  '*.network_token',
  'secret',
  '*.secret',
  'privateKey',
  '*.privateKey',
  'key',
  '*.key',
];

/** Structured JSON logs on stderr, so stdout stays free for command output. */
export function createLogger(level: LevelWithSilent = 'info'): Logger {
  return pino(
    { level, base: { pid: process.pid }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } },
    pino.destination(2),
  );
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
