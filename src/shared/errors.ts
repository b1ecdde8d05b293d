/**
 * One error class for every expected failure: a stable `code` for programs, a one-line
 * `message` for people, and an exit code the CLI uses (sysexits.h where one fits).
 */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 64,
  dataErr: 65,
  unavailable: 69,
  software: 70,
  osErr: 71,
  ioErr: 74,
  tempFail: 75,
  noPerm: 77,
  config: 78,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class KairosError extends Error {
  readonly code: string;
  readonly exitCode: ExitCodeValue;

  constructor(code: string, message: string, options: { exitCode?: ExitCodeValue; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KairosError';
    this.code = code;
    this.exitCode = options.exitCode ?? ExitCode.failure;
  }
}

export function isKairosError(error: unknown): error is KairosError {
  return error instanceof KairosError;
}

/** The message of anything thrown, for logs: never the stack, never the cause's secrets. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
