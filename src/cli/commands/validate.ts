import type { Command } from 'commander';
import { loadConfig } from '../../config/load.ts';
import { decodeToken } from '../../token/index.ts';
import { printJson, printLine } from '../output.ts';
import { withJson, type JsonOptions } from '../common.ts';

export function registerValidate(program: Command): void {
  withJson(
    program.command('validate <file>').description('check a #cloud-config file without starting anything'),
  ).action(async (file: string, options: JsonOptions) => {
    const { config, warnings } = await loadConfig({ configFile: file });
    if (config.token !== undefined && config.tokenSource === 'config') decodeToken(config.token);
    if (options.json === true) return printJson({ valid: true, warnings });
    for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
    printLine(`${file}: valid`);
  });
}
