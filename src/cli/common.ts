import { Option, type Command } from 'commander';
import { ExitCode, KairosError } from '../shared/errors.ts';
import { defaultDataDir } from '../config/load.ts';
import { ApiClient } from './api-client.ts';

export interface DataDirOptions {
  dataDir?: string;
}

export interface JsonOptions {
  json?: boolean;
}

/** `--data-dir`, default `$KAIROS_MESH_DATA_DIR`, else the per-user/system location. */
export function withDataDir(command: Command): Command {
  return command.option(
    '--data-dir <dir>',
    'daemon data directory (default: $KAIROS_MESH_DATA_DIR or the standard location)',
  );
}

export function withJson(command: Command): Command {
  return command.option('--json', 'machine-readable JSON output');
}

export function dataDirOf(options: DataDirOptions): string {
  return options.dataDir ?? process.env['KAIROS_MESH_DATA_DIR'] ?? defaultDataDir();
}

export function clientFor(options: DataDirOptions): ApiClient {
  return new ApiClient(dataDirOf(options));
}

/** Collects a repeatable option into a list. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function parseIntegerOption(name: string, min: number, max: number): (value: string) => number {
  return (value: string) => {
    const number = Number(value);
    if (!Number.isInteger(number) || number < min || number > max) {
      throw new KairosError(
        'USAGE',
        `${name}: expected a whole number from ${min} to ${max}, got "${value}"`,
        { exitCode: ExitCode.usage },
      );
    }
    return number;
  };
}

export function choiceOption(flags: string, description: string, choices: readonly string[]): Option {
  return new Option(flags, description).choices(choices);
}
