import { join } from 'node:path';

/** The control API: HTTP over `<data-dir>/api.sock` (0600), JSON bodies, NDJSON for streams. */
export const API_SOCKET_NAME = 'api.sock';

export function apiSocketPath(dataDir: string): string {
  return join(dataDir, API_SOCKET_NAME);
}

/** Body of every non-2xx answer. */
export interface ApiErrorBody {
  error: { code: string; message: string; exitCode: number };
}
