import { readFile } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { KairosError, ExitCode } from '../shared/errors.ts';
import { parseConfigText } from './parse.ts';
import { resolveConfig, type ConfigFlags } from './resolve.ts';
import type { Config } from './config.ts';

export interface LoadOptions extends ConfigFlags {
  configFile?: string;
  tokenFile?: string;
}

export interface LoadedConfig {
  config: Config;
  warnings: string[];
}

/** Root keeps state under /var/lib; anyone else under their XDG data home. */
export function defaultDataDir(env: Record<string, string | undefined> = process.env): string {
  if (process.getuid?.() === 0) return '/var/lib/kairos-mesh';
  return join(env['XDG_DATA_HOME'] ?? join(homedir(), '.local', 'share'), 'kairos-mesh');
}

export async function readTextFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? 'unreadable');
    throw new KairosError('FILE_UNREADABLE', `cannot read ${what} ${path}: ${reason}`, {
      exitCode: ExitCode.config,
    });
  }
}

export async function loadConfig(options: LoadOptions): Promise<LoadedConfig> {
  const parsed =
    options.configFile === undefined
      ? { config: {}, warnings: [] }
      : parseConfigText(await readTextFile(options.configFile, 'config file'), options.configFile);
  const flags: ConfigFlags = { ...options };
  if (options.tokenFile !== undefined && flags.token === undefined) {
    flags.token = (await readTextFile(options.tokenFile, 'token file')).trim();
  }
  const config = resolveConfig(parsed.config, flags, {
    hostname: hostname(),
    defaultDataDir: defaultDataDir(),
    env: process.env,
  });
  if (options.tokenFile !== undefined && options.token === undefined)
    config.tokenSource = `file ${options.tokenFile}`;
  return { config, warnings: parsed.warnings };
}
