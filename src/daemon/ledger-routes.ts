import type { Ledger, StateChange } from '../ledger/index.ts';
import { ExitCode, KairosError } from '../shared/errors.ts';
import type { ApiRequest, ApiServer } from './api-server.ts';

/** Changes a `watch` client may fall behind by before its stream is ended. */
const WATCH_BACKLOG = 10_000;

/**
 * Control-API routes of the ledger:
 *   POST /ledger/put {bucket,key,value} -> Entry      POST /ledger/del {bucket,key} -> Entry
 *   GET  /ledger/get?bucket=&key=       -> StateItem  (LEDGER_NOT_FOUND, exit 1, when absent)
 *   GET  /ledger/list[?bucket=]         -> StateItem[]
 *   GET  /ledger/history?bucket=&key=   -> Entry[]
 *   GET  /ledger/watch[?bucket=]        -> NDJSON stream of StateChange
 *   POST /ledger/verify                 -> VerifyReport
 *   GET  /ledger/stats                  -> LedgerStats
 *   GET  /ledger/vector                 -> VersionVector
 *   POST /ledger/compact                -> { pruned }
 */
export function registerLedgerRoutes(api: ApiServer, ledger: Ledger): void {
  api.route('POST', '/ledger/put', async ({ body }) => {
    const { bucket, key } = bucketAndKey(body);
    if (typeof body !== 'object' || body === null || !('value' in body)) throw usage('put needs a value');
    return ledger.put(bucket, key, body.value);
  });
  api.route('POST', '/ledger/del', async ({ body }) => {
    const { bucket, key } = bucketAndKey(body);
    return ledger.del(bucket, key);
  });
  api.route('GET', '/ledger/get', ({ query }) =>
    answer(() => {
      const { bucket, key } = bucketAndKey(Object.fromEntries(query));
      const item = ledger.get(bucket, key);
      if (item === undefined)
        throw new KairosError('LEDGER_NOT_FOUND', `${bucket}/${key}: no such key`, {
          exitCode: ExitCode.failure,
        });
      return item;
    }),
  );
  api.route('GET', '/ledger/list', ({ query }) => answer(() => ledger.list(optionalBucket(query))));
  api.route('GET', '/ledger/history', async ({ query }) => {
    const { bucket, key } = bucketAndKey(Object.fromEntries(query));
    return ledger.history(bucket, key);
  });
  api.route('GET', '/ledger/watch', (request) => answer(() => ({ stream: watch(ledger, request) })));
  api.route('POST', '/ledger/verify', () => ledger.verify());
  api.route('GET', '/ledger/stats', () => answer(() => ledger.stats()));
  api.route('GET', '/ledger/vector', () => answer(() => ledger.versionVector()));
  api.route('POST', '/ledger/compact', async () => ({ pruned: await ledger.compact() }));
}

async function* watch(ledger: Ledger, { query, signal }: ApiRequest): AsyncGenerator<StateChange> {
  const bucket = optionalBucket(query);
  const queue: StateChange[] = [];
  let wake: (() => void) | undefined;
  let overflow = false;
  const unsubscribe = ledger.subscribe((change) => {
    if (bucket !== undefined && change.bucket !== bucket) return;
    if (queue.length >= WATCH_BACKLOG) overflow = true;
    else queue.push(change);
    wake?.();
  });
  const onAbort = (): void => wake?.();
  signal.addEventListener('abort', onAbort);
  try {
    while (!signal.aborted && !overflow) {
      const next = queue.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    unsubscribe();
    signal.removeEventListener('abort', onAbort);
  }
}

/** A synchronous answer as a promise (a throw becomes a rejection the API server reports). */
function answer<T>(compute: () => T): Promise<T> {
  return new Promise((resolve) => resolve(compute()));
}

function bucketAndKey(input: unknown): { bucket: string; key: string } {
  const { bucket, key } = (input ?? {}) as Record<string, unknown>;
  if (typeof bucket !== 'string' || typeof key !== 'string') throw usage('bucket and key are required');
  return { bucket, key };
}

function optionalBucket(query: URLSearchParams): string | undefined {
  const bucket = query.get('bucket');
  return bucket === null || bucket === '' ? undefined : bucket;
}

function usage(message: string): KairosError {
  return new KairosError('USAGE', message, { exitCode: ExitCode.usage });
}
