import type { Command } from 'commander';
import { BOOT_SLOTS, type BootSlot } from '../../installer/boot-rules.ts';
import { loadInstaller } from '../lazy.ts';
import { ExitCode, KairosError } from '../../shared/errors.ts';
import { withJson, type JsonOptions } from '../common.ts';
import { formatTable, printJson, printLine } from '../output.ts';

interface DeviceFlags extends JsonOptions {
  device?: string;
}

const DEVICE_HELP = 'Kairos disk or disk image (default: this system, found by partition label)';

export function registerBoot(program: Command): void {
  const boot = program.command('boot').description('A/B boot entries and boot assessment');

  withJson(
    boot
      .command('status')
      .description('slots, versions and boot assessment state')
      .option('--device <dev>', DEVICE_HELP),
  ).action(async (flags: DeviceFlags) => {
    const status = await (await loadInstaller()).bootStatus(flags.device);
    if (flags.json === true) return printJson(status);
    printLine(
      formatTable(
        ['FIELD', 'VALUE'],
        [
          ['active', `${status.active.file} (version ${status.active.version ?? '?'})`],
          ['passive', `${status.passive.file} (version ${status.passive.version ?? '?'})`],
          ['recovery', status.recovery.present ? 'present' : 'missing'],
          ['default', status.defaultSlot],
          ['next boot', status.nextBoot],
          [
            'assessment',
            status.armed ? `armed, ${status.triesLeft} of ${status.maxTries} tries left` : 'disarmed',
          ],
          ['marked good', status.markedGood ?? '-'],
          ['last boot', status.lastBoot ?? '-'],
          ['fallback reason', status.fallbackReason ?? '-'],
          ['interrupted upgrade', status.upgradeInterrupted ? 'yes (finished by the next upgrade)' : 'no'],
        ],
      ),
    );
  });

  withJson(
    boot
      .command('mark-good')
      .description('this boot is healthy: disarm boot assessment')
      .option('--device <dev>', DEVICE_HELP),
  ).action(async (flags: DeviceFlags) => {
    const status = await (await loadInstaller()).bootMarkGood(flags.device);
    if (flags.json === true) return printJson(status);
    printLine(`marked good: next boot ${status.nextBoot}`);
  });

  withJson(
    boot
      .command('select <entry>')
      .description(`boot ${BOOT_SLOTS.join('|')} from now on (disarms assessment)`)
      .option('--device <dev>', DEVICE_HELP),
  ).action(async (entry: string, flags: DeviceFlags) => {
    if (!BOOT_SLOTS.includes(entry as BootSlot)) {
      throw new KairosError(
        'USAGE',
        `boot select: expected one of ${BOOT_SLOTS.join(', ')}, got "${entry}"`,
        {
          exitCode: ExitCode.usage,
        },
      );
    }
    const status = await (await loadInstaller()).bootSelect(entry as BootSlot, flags.device);
    if (flags.json === true) return printJson(status);
    printLine(`next boot: ${status.nextBoot}`);
  });

  withJson(
    boot
      .command('simulate')
      .description('apply one boot to the GRUB environment exactly as the GRUB script does (testing)')
      .option('--device <dev>', DEVICE_HELP),
  ).action(async (flags: DeviceFlags) => {
    const result = await (await loadInstaller()).bootSimulate(flags.device);
    if (flags.json === true) return printJson(result);
    printLine(`booted ${result.slot}`);
  });
}
