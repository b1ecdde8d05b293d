import { execa } from 'execa';
import { KairosError, ExitCode } from './errors.ts';

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface ExecOptions {
  input?: string | Uint8Array;
  signal?: AbortSignal;
  /** Return a non-zero exit instead of throwing. */
  allowFailure?: boolean;
  env?: Record<string, string>;
}

/**
 * Runs a program with an argument vector, never through a shell, so no argument is ever
 * interpreted. A missing program or a failed run becomes one KairosError line.
 */
export async function run(
  file: string,
  args: readonly string[],
  options: ExecOptions = {},
): Promise<ExecResult> {
  try {
    const result = await execa(file, args, {
      reject: false,
      ...(options.input === undefined ? {} : { input: options.input }),
      ...(options.signal === undefined ? {} : { cancelSignal: options.signal }),
      ...(options.env === undefined ? {} : { env: options.env }),
      stripFinalNewline: true,
    });
    if (result.failed && result.exitCode === undefined) {
      const missing = (result.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
      throw new KairosError(
        missing ? 'EXEC_NOT_FOUND' : 'EXEC_FAILED',
        missing ? `${file} is not installed or not on PATH` : `${file} could not run: ${result.shortMessage}`,
        { exitCode: ExitCode.unavailable, cause: result.cause },
      );
    }
    const exitCode = result.exitCode ?? 1;
    if (exitCode !== 0 && options.allowFailure !== true) {
      throw new KairosError(
        'EXEC_FAILED',
        `${file} ${args.join(' ')} failed (exit ${exitCode}): ${firstLine(result.stderr)}`,
        {
          exitCode: ExitCode.osErr,
        },
      );
    }
    return { stdout: String(result.stdout), stderr: String(result.stderr), exitCode };
  } catch (error) {
    if (error instanceof KairosError) throw error;
    throw new KairosError('EXEC_FAILED', `${file} could not run`, { exitCode: ExitCode.osErr, cause: error });
  }
}

function firstLine(text: string | undefined): string {
  return (text ?? '').split('\n').find((line) => line.trim() !== '') ?? 'no error output';
}
