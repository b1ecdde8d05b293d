import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient, parseChallenge } from './registry-client.ts';

/**
 * The auth flows Debian's docker-registry cannot show without a JWT token service: a small
 * loopback server that answers like a registry behind a token service (anonymous or with basic
 * credentials) or behind basic auth.
 */
const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, config: {}, layers: [] }));
const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
const blob = Buffer.from('blob-bytes');
let server: Server;
let host: string;
const seen: string[] = [];

function handle(request: IncomingMessage, response: ServerResponse): void {
  const url = new URL(request.url ?? '/', `http://${host}`);
  const auth = request.headers.authorization ?? '';
  seen.push(`${url.pathname} ${auth.split(' ')[0] ?? ''}`);
  if (url.pathname === '/token') {
    const needsUser = url.searchParams.get('scope')?.includes('private') === true;
    if (needsUser && auth !== `Basic ${Buffer.from('alice:s3cret').toString('base64')}`) {
      response.writeHead(401).end();
      return;
    }
    response
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ token: `tok-${url.searchParams.get('scope')}` }));
    return;
  }
  const [, , repo, kind] = url.pathname.split('/');
  if (repo === 'basic') {
    if (auth !== `Basic ${Buffer.from('alice:s3cret').toString('base64')}`) {
      response.writeHead(401, { 'www-authenticate': 'Basic realm="registry"' }).end();
      return;
    }
  } else if (auth !== `Bearer tok-repository:${repo}:pull`) {
    response
      .writeHead(401, {
        'www-authenticate': `Bearer realm="http://${host}/token",service="test-registry",scope="repository:${repo}:pull"`,
      })
      .end();
    return;
  }
  if (kind === 'manifests') {
    response.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(manifest);
  } else {
    response.writeHead(200).end(blob);
  }
}

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('registry client auth', () => {
  it('follows the anonymous bearer-token flow and reuses the token', async () => {
    seen.length = 0;
    const client = new RegistryClient(host);
    const fetched = await client.manifest('public', 'v1');
    expect(fetched.digest).toBe(digest);
    const chunks: Buffer[] = [];
    for await (const chunk of await client.blob('public', digest)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('blob-bytes');
    expect(seen).toEqual([
      '/v2/public/manifests/v1 ',
      '/token ',
      '/v2/public/manifests/v1 Bearer',
      `/v2/public/blobs/${digest} Bearer`,
    ]);
  });

  it('sends basic credentials to the token service when given, and says so when missing', async () => {
    const credentials = { username: 'alice', password: 's3cret' };
    await expect(new RegistryClient(host, { credentials }).manifest('private', 'v1')).resolves.toMatchObject({
      digest,
    });
    await expect(new RegistryClient(host).manifest('private', 'v1')).rejects.toThrow(/needs credentials/);
  });

  it('answers a basic challenge with basic credentials', async () => {
    const credentials = { username: 'alice', password: 's3cret' };
    await expect(new RegistryClient(host, { credentials }).manifest('basic', 'v1')).resolves.toMatchObject({
      digest,
    });
    await expect(
      new RegistryClient(host, { credentials: { username: 'alice', password: 'wrong' } }).manifest(
        'basic',
        'v1',
      ),
    ).rejects.toThrow(/refused the credentials/);
  });

  it('verifies a manifest fetched by digest', async () => {
    const wrong = `sha256:${'0'.repeat(64)}`;
    await expect(new RegistryClient(host).manifest('public', wrong)).rejects.toThrow(
      /digest mismatch for manifest/,
    );
  });

  it('uses HTTPS except for loopback and --insecure-registry hosts', async () => {
    const urls: string[] = [];
    const recorder = ((url: string | URL) => {
      urls.push(String(url));
      return Promise.reject(new Error('offline'));
    }) as typeof fetch;
    for (const [name, insecure] of [
      ['registry.example:5000', []],
      ['registry.example:5000', ['registry.example:5000']],
      ['localhost:5000', []],
    ] as const) {
      await new RegistryClient(name, { fetch: recorder, insecureRegistries: insecure })
        .manifest('os', '1')
        .catch(() => undefined);
    }
    expect(urls).toEqual([
      'https://registry.example:5000/v2/os/manifests/1',
      'http://registry.example:5000/v2/os/manifests/1',
      'http://localhost:5000/v2/os/manifests/1',
    ]);
  });

  it('parses challenges', () => {
    expect(parseChallenge(' realm="https://auth/token",service="reg",scope="repository:a/b:pull"')).toEqual({
      realm: 'https://auth/token',
      service: 'reg',
      scope: 'repository:a/b:pull',
    });
  });
});
