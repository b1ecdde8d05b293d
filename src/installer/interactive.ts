import { createInterface } from 'node:readline/promises';
import { ExitCode, KairosError } from '../shared/errors.ts';
import type { RegistryCredentials } from './source/registry-client.ts';

/**
 * The confirmation destructive commands ask for: `--yes` answers it; otherwise a terminal is
 * asked, and without one the command refuses rather than erase a disk unattended.
 */
export function confirmer(yes: boolean | undefined): (question: string) => Promise<boolean> {
  return async (question) => {
    if (yes === true) return true;
    if (process.stdin.isTTY !== true) {
      throw new KairosError(
        'CONFIRMATION_REQUIRED',
        `refusing to ${question.replace(/\?$/, '')} without confirmation: pass --yes`,
        {
          exitCode: ExitCode.usage,
        },
      );
    }
    const prompt = createInterface({ input: process.stdin, output: process.stderr });
    try {
      const answer = await prompt.question(`${question} [y/N] `);
      return /^y(es)?$/i.test(answer.trim());
    } finally {
      prompt.close();
    }
  };
}

/** Registry credentials come from the environment, never from the command line (ps shows it). */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): RegistryCredentials | undefined {
  const username = env['KAIROS_REGISTRY_USER'];
  const password = env['KAIROS_REGISTRY_PASSWORD'];
  return username === undefined || password === undefined ? undefined : { username, password };
}
