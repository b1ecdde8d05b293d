import type { Command } from 'commander';
import { loadConfig } from '../../config/load.ts';
import { loadInstaller } from '../lazy.ts';
import { collect, withJson, type JsonOptions } from '../common.ts';
import { printJson, printLine } from '../output.ts';

export interface SourceFlags {
  source: string;
  insecureRegistry?: string[];
  workDir?: string;
}

/** Options every command that reads an OS image shares. */
export function withSourceFlags(command: Command): Command {
  return command
    .requiredOption(
      '--source <src>',
      'OS image: oci://HOST[:PORT]/REPO:TAG (or @sha256:…), oci-archive:PATH or dir:PATH',
    )
    .option(
      '--insecure-registry <host>',
      'allow plain HTTP to this registry HOST[:PORT] (loopback always may)',
      collect,
    )
    .option('--work-dir <dir>', 'scratch space for the unpacked image (default: the temp dir)');
}

export async function sourceOptions(flags: SourceFlags) {
  const { createProgress, credentialsFromEnv } = await loadInstaller();
  const credentials = credentialsFromEnv();
  return {
    source: flags.source,
    progress: createProgress(),
    ...(flags.insecureRegistry === undefined ? {} : { insecureRegistries: flags.insecureRegistry }),
    ...(flags.workDir === undefined ? {} : { workDir: flags.workDir }),
    ...(credentials === undefined ? {} : { credentials }),
  };
}

interface InstallFlags extends SourceFlags, JsonOptions {
  device: string;
  config?: string;
  yes?: boolean;
}

export function registerInstall(program: Command): void {
  withJson(
    withSourceFlags(
      program
        .command('install')
        .description('partition DEV (block device or disk image) and install an OS image as an A/B system')
        .requiredOption('--device <dev>', 'target block device or disk image file'),
    )
      .option('--config <file>', 'cloud-config to copy to COS_OEM (validated first)')
      .option('--yes', 'do not ask before erasing the disk'),
  ).action(async (flags: InstallFlags) => {
    if (flags.config !== undefined) await loadConfig({ configFile: flags.config });
    const { install, confirmer } = await loadInstaller();
    const result = await install({
      ...(await sourceOptions(flags)),
      device: flags.device,
      ...(flags.config === undefined ? {} : { configFile: flags.config }),
      confirm: confirmer(flags.yes),
    });
    const summary = {
      device: result.device,
      source: flags.source,
      digest: result.digest || null,
      slotMiB: result.layout.slotMiB,
      partitions: result.layout.partitions.map((part) => ({ label: part.label, sizeMiB: part.sizeMiB })),
    };
    if (flags.json === true) return printJson(summary);
    printLine(
      `installed ${flags.source} on ${flags.device}${result.digest === '' ? '' : ` (${result.digest})`}`,
    );
  });
}
