/** One peer as `wg show <iface> dump` reports it. */
export interface WgPeerState {
  publicKey: string;
  endpoint?: string | undefined;
  allowedIps: string[];
  /** Epoch ms of the latest completed handshake; 0 when none happened yet. */
  latestHandshakeMs: number;
  rxBytes: number;
  txBytes: number;
  /** Seconds; 0 when off. */
  keepalive: number;
}

export interface WgDump {
  publicKey: string;
  listenPort: number;
  peers: WgPeerState[];
}

/**
 * Parses `wg show <iface> dump`: a tab-separated interface line (private key, public key,
 * listen port, fwmark), then one line per peer (public key, preshared key, endpoint,
 * allowed ips, latest handshake, rx, tx, persistent keepalive). The private key is dropped.
 */
export function parseWgDump(text: string): WgDump {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const head = (lines[0] ?? '').split('\t');
  if (head.length < 4) throw new Error('wg dump: no interface line');
  const dump: WgDump = { publicKey: none(head[1]) ?? '', listenPort: toNumber(head[2]), peers: [] };
  for (const line of lines.slice(1)) {
    const fields = line.split('\t');
    if (fields.length < 8) throw new Error('wg dump: short peer line');
    const allowed = none(fields[3]);
    dump.peers.push({
      publicKey: fields[0] ?? '',
      endpoint: none(fields[2]),
      allowedIps: allowed === undefined ? [] : allowed.split(','),
      latestHandshakeMs: toNumber(fields[4]) * 1000,
      rxBytes: toNumber(fields[5]),
      txBytes: toNumber(fields[6]),
      keepalive: fields[7] === 'off' ? 0 : toNumber(fields[7]),
    });
  }
  return dump;
}

function none(field: string | undefined): string | undefined {
  return field === undefined || field === '(none)' || field === '' ? undefined : field;
}

function toNumber(field: string | undefined): number {
  const value = Number(field);
  return Number.isFinite(value) ? value : 0;
}
