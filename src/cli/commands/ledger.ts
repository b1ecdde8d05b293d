import type { Command } from 'commander';
import type { Entry, LedgerStats, StateChange, StateItem, VerifyReport } from '../../ledger/index.ts';
import { ExitCode, KairosError } from '../../shared/errors.ts';
import { readTextFile } from '../../config/load.ts';
import { formatTable, printJson, printLine } from '../output.ts';
import { clientFor, withDataDir, withJson, type DataDirOptions, type JsonOptions } from '../common.ts';

type Options = DataDirOptions & JsonOptions;

/** VALUE as JSON when it parses (`3`, `true`, `{"a":1}`, `"x"`), else the plain string. */
export function parseValueArgument(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function query(params: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined) search.set(name, value);
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

/** A value on one line, cut to `width` characters for tables. */
function showValue(value: unknown, width = 60): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

function showAuthor(author: string): string {
  return `…${author.slice(-8)}`;
}

function showTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function registerLedger(program: Command): void {
  const ledger = program
    .command('ledger')
    .description(
      'the replicated key/value ledger: every member writes signed entries, all see the same state',
    );

  withJson(
    withDataDir(
      ledger
        .command('put <bucket> <key> [value]')
        .description('write VALUE (JSON when it parses, else a string) at BUCKET/KEY')
        .option('--file <file>', 'read the value from a file instead'),
    ),
  ).action(
    async (bucket: string, key: string, text: string | undefined, options: Options & { file?: string }) => {
      if ((text === undefined) === (options.file === undefined))
        throw new KairosError('USAGE', 'give the value either as an argument or with --file', {
          exitCode: ExitCode.usage,
        });
      const raw = options.file === undefined ? text! : await readTextFile(options.file, 'value file');
      const entry = await clientFor(options).post<Entry>('/ledger/put', {
        bucket,
        key,
        value: parseValueArgument(raw),
      });
      if (options.json === true) return printJson(entry);
      printLine(`put ${bucket}/${key} (seq ${entry.seq}, lamport ${entry.lamport})`);
    },
  );

  withJson(
    withDataDir(ledger.command('get <bucket> <key>').description('print the value at BUCKET/KEY')),
  ).action(async (bucket: string, key: string, options: Options) => {
    const item = await clientFor(options).get<StateItem>(`/ledger/get${query({ bucket, key })}`);
    if (options.json === true) return printJson(item);
    printLine(typeof item.value === 'string' ? item.value : JSON.stringify(item.value, null, 2));
  });

  withJson(
    withDataDir(ledger.command('del <bucket> <key>').description('delete BUCKET/KEY (a tombstone)')),
  ).action(async (bucket: string, key: string, options: Options) => {
    const entry = await clientFor(options).post<Entry>('/ledger/del', { bucket, key });
    if (options.json === true) return printJson(entry);
    printLine(`deleted ${bucket}/${key} (seq ${entry.seq}, lamport ${entry.lamport})`);
  });

  withJson(
    withDataDir(ledger.command('ls [bucket]').description('list live keys, of one bucket or all')),
  ).action(async (bucket: string | undefined, options: Options) => {
    const items = await clientFor(options).get<StateItem[]>(`/ledger/list${query({ bucket })}`);
    if (options.json === true) return printJson(items);
    printLine(
      formatTable(
        ['BUCKET', 'KEY', 'VALUE', 'AUTHOR', 'LAMPORT', 'TIME'],
        items.map((item) => [
          item.bucket,
          item.key,
          showValue(item.value),
          showAuthor(item.author),
          String(item.lamport),
          showTime(item.time),
        ]),
      ),
    );
  });

  withJson(
    withDataDir(
      ledger.command('watch [bucket]').description('print each change as it happens (Ctrl-C stops)'),
    ),
  ).action(async (bucket: string | undefined, options: Options) => {
    for await (const change of clientFor(options).stream<StateChange>(`/ledger/watch${query({ bucket })}`)) {
      if (options.json === true) printLine(JSON.stringify(change));
      else
        printLine(
          `${change.deleted ? 'del' : 'put'} ${change.bucket}/${change.key}` +
            `${change.deleted ? '' : ` ${showValue(change.value, 200)}`} by ${showAuthor(change.author)} (lamport ${change.lamport})`,
        );
    }
  });

  withJson(
    withDataDir(
      ledger.command('history <bucket> <key>').description('the stored entries of BUCKET/KEY, oldest first'),
    ),
  ).action(async (bucket: string, key: string, options: Options) => {
    const entries = await clientFor(options).get<Entry[]>(`/ledger/history${query({ bucket, key })}`);
    if (options.json === true) return printJson(entries);
    printLine(
      formatTable(
        ['LAMPORT', 'AUTHOR', 'SEQ', 'OP', 'TIME', 'VALUE'],
        entries.map((entry) => [
          String(entry.lamport),
          showAuthor(entry.author),
          String(entry.seq),
          entry.op,
          showTime(entry.time),
          entry.op === 'del' ? '-' : showValue(entry.value),
        ]),
      ),
    );
  });

  withJson(
    withDataDir(
      ledger.command('verify').description('re-check every stored entry (signature, chain, rules)'),
    ),
  ).action(async (options: Options) => {
    const report = await clientFor(options).post<VerifyReport>('/ledger/verify');
    if (options.json === true) printJson(report);
    else
      printLine(
        formatTable(
          ['FIELD', 'VALUE'],
          Object.entries(report).map(([name, value]) => [name, String(value)]),
        ),
      );
    if (report.invalid > 0)
      throw new KairosError(
        'LEDGER_INVALID',
        `${report.invalid} of ${report.entries} entries failed verification`,
        {
          exitCode: ExitCode.dataErr,
        },
      );
  });

  withJson(
    withDataDir(ledger.command('stats').description('entry counts, replication and rejection counters')),
  ).action(async (options: Options) => {
    const stats = await clientFor(options).get<LedgerStats>('/ledger/stats');
    if (options.json === true) return printJson(stats);
    const rows = Object.entries(stats).flatMap(([name, value]): string[][] =>
      typeof value === 'object' && value !== null
        ? Object.entries(value as Record<string, number>).map(([reason, count]) => [
            `${name}.${reason}`,
            String(count),
          ])
        : [[name, String(value)]],
    );
    printLine(formatTable(['FIELD', 'VALUE'], rows));
  });

  withDataDir(
    ledger.command('compact').description('delete superseded entries now (normally hourly)'),
  ).action(async (options: DataDirOptions) => {
    const { pruned } = await clientFor(options).post<{ pruned: number }>('/ledger/compact');
    printLine(`pruned ${pruned} superseded entries`);
  });
}
