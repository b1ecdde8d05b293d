import type { Command } from 'commander';
import { parseIntegerOption, withJson, type JsonOptions } from '../common.ts';
import { printJson, printLine } from '../output.ts';
import { sourceOptions, withSourceFlags, type SourceFlags } from './install.ts';
import { loadInstaller } from '../lazy.ts';

interface UpgradeFlags extends SourceFlags, JsonOptions {
  device?: string;
  recovery?: boolean;
  tries?: number;
}

export function registerUpgrade(program: Command): void {
  withJson(
    withSourceFlags(
      program
        .command('upgrade')
        .description(
          'build the new OS image beside the running one, switch atomically and arm boot assessment',
        ),
    )
      .option('--device <dev>', 'Kairos disk or disk image (default: this system)')
      .option('--recovery', 'upgrade the recovery image instead')
      .option(
        '--tries <n>',
        'boots the new image gets to be marked good (default 3)',
        parseIntegerOption('--tries', 1, 9),
      ),
  ).action(async (flags: UpgradeFlags) => {
    const { upgrade } = await loadInstaller();
    const result = await upgrade({
      ...(await sourceOptions(flags)),
      ...(flags.device === undefined ? {} : { device: flags.device }),
      ...(flags.recovery === true ? { recovery: true } : {}),
      ...(flags.tries === undefined ? {} : { tries: flags.tries }),
    });
    if (flags.json === true) return printJson({ ...result, digest: result.digest || null });
    printLine(
      result.target === 'recovery'
        ? `recovery upgraded to ${flags.source}`
        : `upgraded to ${flags.source}; it has ${result.tries} boots to be marked good (kairos-mesh boot mark-good)`,
    );
  });
}
