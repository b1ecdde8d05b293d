import type { Command } from 'commander';
import { registerToken } from './token.ts';
import { registerValidate } from './validate.ts';
import { registerInstall } from './install.ts';
import { registerUpgrade } from './upgrade.ts';
import { registerReset } from './reset.ts';
import { registerBoot } from './boot.ts';
import { registerUp } from './up.ts';
import { registerStatus } from './peers.ts';
import { registerDemo } from './demo.ts';
import { registerVpn } from './vpn.ts';
import { registerLedger } from './ledger.ts';
import { registerRoles } from './roles.ts';

/** Every command group, in the order `--help` lists them. */
export function registerCommands(program: Command): void {
  registerUp(program);
  registerStatus(program);
  registerVpn(program);
  registerLedger(program);
  registerRoles(program);
  registerDemo(program);
  registerToken(program);
  registerValidate(program);
  registerInstall(program);
  registerUpgrade(program);
  registerReset(program);
  registerBoot(program);
}
