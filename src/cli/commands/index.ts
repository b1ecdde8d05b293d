import type { Command } from 'commander';
import { registerToken } from './token.ts';
import { registerValidate } from './validate.ts';

/** Every command group, in the order `--help` lists them. */
export function registerCommands(program: Command): void {
  registerToken(program);
  registerValidate(program);
}
