import { request as httpRequest, type IncomingMessage } from 'node:http';
import { createInterface } from 'node:readline';
import { ExitCode, KairosError, type ExitCodeValue } from '../shared/errors.ts';
import { apiSocketPath, type ApiErrorBody } from '../shared/control-api.ts';

/** Talks to a running daemon through `<data-dir>/api.sock`. */
export class ApiClient {
  readonly socketPath: string;
  private readonly dataDir: string;

  constructor(dataDir: string) {
    this.dataDir = dataDir;
    this.socketPath = apiSocketPath(dataDir);
  }

  async get<T>(path: string): Promise<T> {
    return (await this.call('GET', path)) as T;
  }

  async post<T>(path: string, body?: unknown): Promise<T> {
    return (await this.call('POST', path, body)) as T;
  }

  /** Yields each NDJSON line of a streaming endpoint until the daemon ends it or `signal` aborts. */
  async *stream<T>(path: string, signal?: AbortSignal): AsyncGenerator<T> {
    const response = await this.open('GET', path, undefined, signal);
    if (response.statusCode !== 200) throw toError(await readAll(response));
    const lines = createInterface({ input: response, crlfDelay: Infinity });
    try {
      for await (const line of lines) if (line.trim() !== '') yield JSON.parse(line) as T;
    } catch (error) {
      if (signal?.aborted !== true) throw error;
    }
  }

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const response = await this.open(method, path, body);
    const text = await readAll(response);
    if (response.statusCode !== 200) throw toError(text);
    return JSON.parse(text) as unknown;
  }

  private open(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const request = httpRequest(
        {
          socketPath: this.socketPath,
          path,
          method,
          headers: payload === undefined ? {} : { 'content-type': 'application/json' },
          ...(signal === undefined ? {} : { signal }),
        },
        resolve,
      );
      request.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') {
          reject(
            new KairosError(
              'DAEMON_NOT_RUNNING',
              `no kairos-mesh daemon is running for data dir ${this.dataDir} (start one with \`kairos-mesh up\`)`,
              {
                exitCode: ExitCode.unavailable,
              },
            ),
          );
        } else if (error.code === 'EACCES') {
          reject(
            new KairosError(
              'DAEMON_ACCESS_DENIED',
              `permission denied on ${this.socketPath} (run as the daemon's user)`,
              { exitCode: ExitCode.noPerm },
            ),
          );
        } else reject(error);
      });
      request.end(payload);
    });
  }
}

async function readAll(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function toError(text: string): KairosError {
  try {
    const { error } = JSON.parse(text) as ApiErrorBody;
    return new KairosError(error.code, error.message, { exitCode: error.exitCode as ExitCodeValue });
  } catch {
    return new KairosError('API_BAD_RESPONSE', 'the daemon answered with something that is not JSON', {
      exitCode: ExitCode.software,
    });
  }
}
