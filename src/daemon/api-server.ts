import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmod, rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import { ExitCode, KairosError, describeError } from '../shared/errors.ts';
import type { ApiErrorBody } from '../shared/control-api.ts';

export interface ApiRequest {
  body: unknown;
  query: URLSearchParams;
  /** Aborts when the client goes away; streaming handlers stop on it. */
  signal: AbortSignal;
}

/** A handler returns a JSON value, or an async iterable streamed as NDJSON lines. */
export type ApiHandler = (request: ApiRequest) => Promise<unknown>;

export interface ApiStream {
  stream: AsyncIterable<unknown>;
}

export function isApiStream(value: unknown): value is ApiStream {
  return typeof value === 'object' && value !== null && 'stream' in value;
}

const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** The daemon's local control API on a unix socket only the owner can open. */
export class ApiServer {
  private readonly routes = new Map<string, ApiHandler>();
  private server: Server | undefined;
  private readonly socketPath: string;
  private readonly log: Logger;

  constructor(socketPath: string, log: Logger) {
    this.socketPath = socketPath;
    this.log = log;
  }

  route(method: 'GET' | 'POST', path: string, handler: ApiHandler): void {
    this.routes.set(`${method} ${path}`, handler);
  }

  async start(): Promise<void> {
    // A socket left by a killed daemon would make listen fail with EADDRINUSE; the data dir
    // lock (held by the caller) guarantees no live daemon owns it.
    await rm(this.socketPath, { force: true });
    const server = createServer((request, response) => void this.handle(request, response));
    this.server = server;
    const previousMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.socketPath, () => resolve());
      });
    } finally {
      process.umask(previousMask);
    }
    await chmod(this.socketPath, 0o600);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(this.socketPath, { force: true });
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://kairos-mesh');
    const handler = this.routes.get(`${request.method ?? 'GET'} ${url.pathname}`);
    const abort = new AbortController();
    response.on('close', () => abort.abort());
    try {
      if (handler === undefined)
        throw new KairosError('API_NOT_FOUND', `no such API: ${request.method} ${url.pathname}`, {
          exitCode: ExitCode.usage,
        });
      const body = await readJsonBody(request);
      const result = await handler({ body, query: url.searchParams, signal: abort.signal });
      if (isApiStream(result)) {
        response.writeHead(200, { 'content-type': 'application/x-ndjson' });
        for await (const item of result.stream) {
          if (abort.signal.aborted) break;
          response.write(`${JSON.stringify(item)}\n`);
        }
        response.end();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(result ?? null));
    } catch (error) {
      const known = error instanceof KairosError;
      if (!known)
        this.log.error({ err: describeError(error), path: url.pathname }, 'control API handler failed');
      const body: ApiErrorBody = {
        error: known
          ? { code: error.code, message: error.message, exitCode: error.exitCode }
          : {
              code: 'INTERNAL',
              message: `internal error: ${describeError(error)}`,
              exitCode: ExitCode.software,
            },
      };
      if (!response.headersSent)
        response.writeHead(known ? 400 : 500, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    }
  }
}

async function readJsonBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES)
      throw new KairosError('API_BODY_TOO_LARGE', 'request body over 4 MiB', { exitCode: ExitCode.dataErr });
    chunks.push(chunk);
  }
  if (chunks.length === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new KairosError('API_BAD_JSON', 'request body is not JSON', { exitCode: ExitCode.dataErr });
  }
}
