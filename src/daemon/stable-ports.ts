import { join } from 'node:path';
import { readFileIfExists, writeFileAtomic } from '../shared/secure-file.ts';

const FILE = 'listen-ports.json';

/**
 * A listen address with port 0 gets a random port; members remember our addresses, so a
 * restart on another port would strand them. The first port chosen is kept in the data dir
 * and asked for again on the next start.
 */
export async function rememberedListenAddresses(dataDir: string, listen: string[]): Promise<string[]> {
  const remembered = await load(dataDir);
  return listen.map((address) => remembered[address] ?? address);
}

export async function rememberListenPorts(dataDir: string, listen: string[], bound: string[]): Promise<void> {
  const remembered = await load(dataDir);
  for (const address of listen) {
    if (!/\/tcp\/0$/.test(address)) continue;
    // A bound address of the same family carries the chosen port (0.0.0.0 binds every interface).
    const family = address.split('/')[1];
    const port = bound
      .filter((candidate) => candidate.startsWith(`/${family}/`) && !candidate.includes('/p2p-circuit'))
      .map((candidate) => /\/tcp\/(\d+)/.exec(candidate)?.[1])
      .find((candidate) => candidate !== undefined);
    if (port !== undefined) remembered[address] = address.replace(/\/tcp\/0$/, `/tcp/${port}`);
  }
  await writeFileAtomic(join(dataDir, FILE), `${JSON.stringify(remembered, null, 2)}\n`, 0o600);
}

async function load(dataDir: string): Promise<Record<string, string>> {
  const text = await readFileIfExists(join(dataDir, FILE));
  if (text === undefined) return {};
  try {
    const parsed = JSON.parse(text.toString('utf8')) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, string>) : {};
  } catch {
    return {};
  }
}
