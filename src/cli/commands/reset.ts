import type { Command } from 'commander';
import { loadInstaller } from '../lazy.ts';
import { withJson, type JsonOptions } from '../common.ts';
import { printJson, printLine } from '../output.ts';

interface ResetFlags extends JsonOptions {
  device?: string;
  resetOem?: boolean;
  yes?: boolean;
  workDir?: string;
}

export function registerReset(program: Command): void {
  withJson(
    program
      .command('reset')
      .description('rebuild active and passive from recovery and format COS_PERSISTENT (factory reset)')
      .option('--device <dev>', 'Kairos disk or disk image (default: this system)')
      .option('--reset-oem', 'also format COS_OEM (drops the installed cloud-config)')
      .option('--work-dir <dir>', 'scratch space for the unpacked recovery image')
      .option('--yes', 'do not ask before erasing'),
  ).action(async (flags: ResetFlags) => {
    const { reset, createProgress, confirmer } = await loadInstaller();
    const result = await reset({
      progress: createProgress(),
      confirm: confirmer(flags.yes),
      ...(flags.device === undefined ? {} : { device: flags.device }),
      ...(flags.resetOem === true ? { resetOem: true } : {}),
      ...(flags.workDir === undefined ? {} : { workDir: flags.workDir }),
    });
    if (flags.json === true) return printJson(result);
    printLine(
      `reset done: active and passive restored from recovery, PERSISTENT${result.resetOem ? ' and OEM' : ''} formatted`,
    );
  });
}
