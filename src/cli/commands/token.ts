import type { Command } from 'commander';
import { decodeToken, deriveKeys, encodeToken, newToken } from '../../token/index.ts';
import { ExitCode, KairosError } from '../../shared/errors.ts';
import { readTextFile } from '../../config/load.ts';
import { formatTable, printJson, printLine } from '../output.ts';
import { withJson, type JsonOptions } from '../common.ts';

interface InspectOptions extends JsonOptions {
  tokenFile?: string;
}

export function registerToken(program: Command): void {
  const token = program.command('token').description('create and inspect network tokens');

  token
    .command('new')
    .description('print a new network token (one line); every machine with it joins the same mesh')
    .option('--network-id <id>', 'network id (several clusters can share one token)', 'kairos')
    .action((options: { networkId: string }) => {
      if (options.networkId.trim() === '')
        throw new KairosError('USAGE', '--network-id must not be empty', { exitCode: ExitCode.usage });
      printLine(encodeToken(newToken({ networkId: options.networkId })));
    });

  withJson(
    token
      .command('inspect [token]')
      .description(
        'show the non-secret fields of a token (from the argument, --token-file or KAIROS_MESH_TOKEN)',
      )
      .option('--token-file <file>', 'read the token from a file'),
  ).action(async (text: string | undefined, options: InspectOptions) => {
    const source =
      text ??
      (options.tokenFile === undefined
        ? process.env['KAIROS_MESH_TOKEN']
        : await readTextFile(options.tokenFile, 'token file'));
    if (source === undefined || source.trim() === '') {
      throw new KairosError(
        'TOKEN_MISSING',
        'no token given: pass it as an argument, with --token-file, or in KAIROS_MESH_TOKEN',
        { exitCode: ExitCode.config },
      );
    }
    const decoded = decodeToken(source);
    const keys = deriveKeys(decoded);
    const fields = {
      version: decoded.version,
      networkId: decoded.networkId,
      fingerprint: keys.fingerprint,
      epochSeconds: decoded.epochSeconds,
      overlayCidr: decoded.overlayCidr ?? null,
      bootstrap: decoded.bootstrap,
    };
    if (options.json === true) return printJson(fields);
    printLine(
      formatTable(
        ['FIELD', 'VALUE'],
        Object.entries(fields).map(([name, value]) => [
          name,
          Array.isArray(value) ? value.join(',') || '-' : String(value ?? '-'),
        ]),
      ),
    );
  });
}
