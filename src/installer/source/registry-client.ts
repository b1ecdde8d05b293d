import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createHash } from 'node:crypto';
import { ExitCode, KairosError, describeError } from '../../shared/errors.ts';
import { MANIFEST_ACCEPT } from './manifest.ts';
import { isLoopbackHost } from './reference.ts';

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface RegistryClientOptions {
  /** Hosts (HOST[:PORT]) that may be reached over plain HTTP besides loopback. */
  insecureRegistries?: readonly string[];
  credentials?: RegistryCredentials;
  signal?: AbortSignal;
  fetch?: typeof fetch;
}

/**
 * A small client for the OCI distribution API: manifests and blobs, following the anonymous
 * bearer-token flow (or basic auth when credentials are given) on a 401.
 */
export class RegistryClient {
  readonly #host: string;
  readonly #base: string;
  readonly #options: RegistryClientOptions;
  readonly #fetch: typeof fetch;
  #authorization: string | undefined;

  constructor(host: string, options: RegistryClientOptions = {}) {
    this.#host = host;
    this.#options = options;
    this.#fetch = options.fetch ?? fetch;
    const plain = isLoopbackHost(host) || (options.insecureRegistries ?? []).includes(host);
    this.#base = `${plain ? 'http' : 'https'}://${host}/v2`;
  }

  /** The manifest bytes, its media type and digest (verified when the reference is a digest). */
  async manifest(
    repository: string,
    reference: string,
  ): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
    const response = await this.#get(`/${repository}/manifests/${reference}`, { Accept: MANIFEST_ACCEPT });
    if (response.status === 404) {
      await response.body?.cancel();
      throw new KairosError(
        'IMAGE_NOT_FOUND',
        `image ${this.#host}/${repository}:${reference} not found (unknown tag or digest)`,
        {
          exitCode: ExitCode.dataErr,
        },
      );
    }
    await this.#expectOk(response, `manifest ${repository}:${reference}`);
    const bytes = Buffer.from(await response.arrayBuffer());
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new KairosError('DIGEST_MISMATCH', `digest mismatch for manifest ${reference.slice(0, 19)}…`, {
        exitCode: ExitCode.dataErr,
      });
    }
    return { bytes, mediaType: response.headers.get('content-type') ?? '', digest };
  }

  /** A blob as a byte stream (the caller verifies its digest while reading). */
  async blob(repository: string, digest: string): Promise<Readable> {
    const response = await this.#get(`/${repository}/blobs/${digest}`, {});
    if (response.status === 404) {
      await response.body?.cancel();
      throw new KairosError(
        'BLOB_NOT_FOUND',
        `blob ${digest.slice(0, 19)}… missing from ${this.#host}/${repository}`,
        {
          exitCode: ExitCode.dataErr,
        },
      );
    }
    await this.#expectOk(response, `blob ${digest.slice(0, 19)}…`);
    if (response.body === null) throw new KairosError('REGISTRY_ERROR', `empty body for blob ${digest}`);
    return Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
  }

  async #get(path: string, headers: Record<string, string>): Promise<Response> {
    let response = await this.#request(path, headers);
    if (response.status !== 401) return response;
    const challenge = response.headers.get('www-authenticate') ?? '';
    await response.body?.cancel();
    this.#authorization = await this.#authorize(challenge);
    response = await this.#request(path, headers);
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      throw new KairosError('REGISTRY_UNAUTHORIZED', `registry ${this.#host} refused the credentials`, {
        exitCode: ExitCode.noPerm,
      });
    }
    return response;
  }

  async #request(path: string, headers: Record<string, string>): Promise<Response> {
    const all = {
      ...headers,
      ...(this.#authorization === undefined ? {} : { Authorization: this.#authorization }),
    };
    try {
      return await this.#fetch(`${this.#base}${path}`, {
        headers: all,
        redirect: 'follow',
        ...(this.#options.signal === undefined ? {} : { signal: this.#options.signal }),
      });
    } catch (error) {
      throw unreachable(this.#host, error);
    }
  }

  async #authorize(challenge: string): Promise<string> {
    const scheme = challenge.split(' ', 1)[0]?.toLowerCase();
    const credentials = this.#options.credentials;
    const basic =
      credentials === undefined
        ? undefined
        : `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    if (scheme === 'basic') {
      if (basic === undefined) throw needsCredentials(this.#host);
      return basic;
    }
    if (scheme !== 'bearer') {
      throw new KairosError(
        'REGISTRY_UNAUTHORIZED',
        `registry ${this.#host} asks for unsupported auth "${scheme}"`,
        {
          exitCode: ExitCode.noPerm,
        },
      );
    }
    const params = parseChallenge(challenge.slice('bearer'.length));
    const realm = params['realm'];
    if (realm === undefined)
      throw new KairosError('REGISTRY_ERROR', `registry ${this.#host} sent a bearer challenge without realm`);
    const url = new URL(realm);
    if (
      url.protocol !== 'https:' &&
      !isLoopbackHost(url.host) &&
      !(this.#options.insecureRegistries ?? []).includes(url.host)
    ) {
      throw new KairosError('REGISTRY_ERROR', `token realm ${url.host} is not HTTPS`, {
        exitCode: ExitCode.noPerm,
      });
    }
    for (const name of ['service', 'scope']) {
      const value = params[name];
      if (value !== undefined) url.searchParams.set(name, value);
    }
    let response: Response;
    try {
      response = await this.#fetch(url, {
        headers: basic === undefined ? {} : { Authorization: basic },
        ...(this.#options.signal === undefined ? {} : { signal: this.#options.signal }),
      });
    } catch (error) {
      throw unreachable(url.host, error);
    }
    if (!response.ok) {
      await response.body?.cancel();
      if (basic === undefined) throw needsCredentials(this.#host);
      throw new KairosError(
        'REGISTRY_UNAUTHORIZED',
        `token service refused access to ${this.#host} (HTTP ${response.status})`,
        {
          exitCode: ExitCode.noPerm,
        },
      );
    }
    const body = (await response.json()) as { token?: unknown; access_token?: unknown };
    const token = typeof body.token === 'string' ? body.token : body.access_token;
    if (typeof token !== 'string' || token === '')
      throw new KairosError('REGISTRY_ERROR', `token service for ${this.#host} sent no token`);
    return `Bearer ${token}`;
  }

  async #expectOk(response: Response, what: string): Promise<void> {
    if (response.ok) return;
    await response.body?.cancel();
    throw new KairosError(
      'REGISTRY_ERROR',
      `registry ${this.#host} answered HTTP ${response.status} for ${what}`,
      {
        exitCode: ExitCode.unavailable,
      },
    );
  }
}

/** `key="value", key2="value"` of a WWW-Authenticate challenge. */
export function parseChallenge(text: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const match of text.matchAll(/([A-Za-z_]+)="([^"]*)"/g)) params[match[1]!.toLowerCase()] = match[2]!;
  return params;
}

function needsCredentials(host: string): KairosError {
  return new KairosError(
    'REGISTRY_UNAUTHORIZED',
    `registry ${host} needs credentials (set KAIROS_REGISTRY_USER and KAIROS_REGISTRY_PASSWORD)`,
    {
      exitCode: ExitCode.noPerm,
    },
  );
}

function unreachable(host: string, error: unknown): KairosError {
  if (error instanceof Error && error.name === 'AbortError') {
    return new KairosError('ABORTED', `pull from ${host} was cancelled`, { exitCode: ExitCode.tempFail });
  }
  const cause = (error as { cause?: { code?: string } }).cause;
  const reason = cause?.code ?? describeError(error);
  return new KairosError('REGISTRY_UNREACHABLE', `cannot reach registry ${host}: ${reason}`, {
    exitCode: ExitCode.unavailable,
    cause: error,
  });
}
