import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { run } from '../shared/exec.ts';
import { BOOT_SLOTS, ENV, expandVariables, simulateBoot } from './boot-rules.ts';
import { bootRulesScript, efiStubConfig, mainGrubConfig } from './grub-config.ts';

/**
 * A tiny interpreter for the if/elif/else chain the generator emits, to show that the text GRUB
 * runs decides the same as the simulator (quoting, order, values).
 */
function interpret(
  script: string,
  env: Record<string, string>,
): { env: Record<string, string>; entry: number } {
  const out = { ...env };
  let active = false;
  let done = false;
  let entry = -1;
  for (const raw of script.split('\n')) {
    const line = raw.trim();
    const test = /^(?:if|elif) (.*); then$/.exec(line);
    if (test !== null || line === 'else' || line === 'if true; then') {
      if (active) done = true;
      active =
        !done &&
        (test === null ||
          test[1]!.split(' -a ').every((clause) => {
            const match = /^\[ "\$\{(\w+)\}" = "(.*)" \]$/.exec(clause)!;
            return (env[match[1]!] ?? '') === match[2];
          }));
      continue;
    }
    if (line === 'fi') break;
    const assignment = /^set (\w+)="(.*)"$/.exec(line) ?? /^set (\w+)=(\S+)$/.exec(line);
    if (active && !done && assignment !== null) {
      const [, name, value] = assignment;
      if (name === 'default') entry = Number(value);
      else if (name !== 'fallback') out[name!] = expandVariables(value!, env);
    }
  }
  return { env: out, entry };
}

describe('GRUB configuration', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kmi-grubcfg-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('passes grub-script-check', async () => {
    for (const [name, text] of [
      ['grub.cfg', mainGrubConfig()],
      ['efi.cfg', efiStubConfig()],
    ] as const) {
      const file = join(dir, name);
      await writeFile(file, text);
      const result = await run('grub-script-check', [file], { allowFailure: true });
      expect(result.stderr + result.stdout).toBe('');
      expect(result.exitCode).toBe(0);
    }
  });

  it('the rendered rules decide exactly as the simulator for every env state', () => {
    const script = bootRulesScript();
    const value = (options: string[]) => fc.constantFrom(...options);
    fc.assert(
      fc.property(
        value(['', '0', '1', '2', '3', '9', 'x']),
        value(['', 'active', 'passive', 'recovery', 'bogus']),
        value(['', '3', '5']),
        (tries, slot, max) => {
          const env = { [ENV.tries]: tries, [ENV.defaultSlot]: slot, [ENV.maxTries]: max };
          const simulated = simulateBoot(env);
          const interpreted = interpret(script, env);
          expect(interpreted.entry).toBe(BOOT_SLOTS.indexOf(simulated.slot));
          expect(interpreted.env).toEqual(simulated.env);
        },
      ),
    );
  });

  it('has one menu entry per slot, in fallback order, loading the image the env names', () => {
    const config = mainGrubConfig();
    expect([...config.matchAll(/--id (\w+)/g)].map((m) => m[1])).toEqual([...BOOT_SLOTS]);
    expect(config).toContain('loopback loop_active /cOS/${kairos_active_img}');
    expect(config).toContain('loopback loop_passive /cOS/${kairos_passive_img}');
    expect(config).toContain('save_env -f ${kairos_env} kairos_tries');
  });
});
