import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A fake `k3s` for tests (no real k3s can run here). It honours the driver's contract:
 * - `server ...`: writes <root>/var/lib/rancher/k3s/server/node-token and
 *   <root>/etc/rancher/k3s/k3s.yaml (server https://127.0.0.1:6443), then keeps running;
 * - `agent ...`: writes <root>/var/lib/rancher/k3s/agent/kubelet.kubeconfig, keeps running;
 * - `kubectl get --raw /readyz`: prints `ok` when $KUBECONFIG exists.
 * Every call is recorded as <root>/calls/<n>.json: argv and the K3S_* env it got; the pid of
 * every server/agent it became is appended to <root>/pids (see killFakeK3s).
 * With `exitFirst`, the first `server`/`agent` run exits 1 (to test restarts).
 */
export async function writeFakeK3s(
  root: string,
  options: { token?: string; exitFirst?: boolean } = {},
): Promise<string> {
  const bin = join(root, 'bin', 'k3s');
  await mkdir(join(root, 'bin'), { recursive: true });
  await mkdir(join(root, 'calls'), { recursive: true });
  const token = options.token ?? 'K10fake::server:secret';
  const script = `#!/bin/sh
ROOT='${root}'
n="$(date +%s%N)-$$"
{
  printf '{"argv":['
  sep=''
  for a in "$@"; do printf '%s"%s"' "$sep" "$a"; sep=','; done
  printf '],"K3S_TOKEN":"%s","K3S_URL":"%s","EXTRA":"%s"}' "\${K3S_TOKEN-}" "\${K3S_URL-}" "\${EXTRA-}"
} > "$ROOT/calls/$n.json"
case "$1" in
  kubectl)
    if [ -f "$KUBECONFIG" ]; then echo ok; exit 0; fi
    exit 1 ;;
  server)
    ${options.exitFirst === true ? 'if [ ! -f "$ROOT/exited-once" ]; then touch "$ROOT/exited-once"; exit 1; fi' : ''}
    mkdir -p "$ROOT/var/lib/rancher/k3s/server" "$ROOT/etc/rancher/k3s"
    printf '%s\\n' '${token}' > "$ROOT/var/lib/rancher/k3s/server/node-token"
    printf 'apiVersion: v1\\nclusters:\\n- cluster:\\n    server: https://127.0.0.1:6443\\n  name: default\\n' > "$ROOT/etc/rancher/k3s/k3s.yaml"
    echo $$ >> "$ROOT/pids"
    exec sleep 1000 ;;
  agent)
    ${options.exitFirst === true ? 'if [ ! -f "$ROOT/exited-once" ]; then touch "$ROOT/exited-once"; exit 1; fi' : ''}
    mkdir -p "$ROOT/var/lib/rancher/k3s/agent"
    printf 'apiVersion: v1\\n' > "$ROOT/var/lib/rancher/k3s/agent/kubelet.kubeconfig"
    echo $$ >> "$ROOT/pids"
    exec sleep 1000 ;;
esac
`;
  await writeFile(bin, script);
  await chmod(bin, 0o755);
  return bin;
}

export interface FakeK3sCall {
  argv: string[];
  K3S_TOKEN: string;
  K3S_URL: string;
  EXTRA: string;
}

/** The recorded calls in order, leaving out readiness probes. */
export async function fakeK3sCalls(root: string): Promise<FakeK3sCall[]> {
  const names = await readdir(join(root, 'calls'));
  const calls = await Promise.all(
    names
      .sort()
      .map(async (name) => JSON.parse(await readFile(join(root, 'calls', name), 'utf8')) as FakeK3sCall),
  );
  return calls.filter((call) => call.argv[0] !== 'kubectl');
}

/**
 * Kills every server/agent the fake became. The daemon stops its own child, but one that was
 * SIGKILLed leaves its k3s running (as a real k3s would be): tests clean up by pid.
 */
export async function killFakeK3s(root: string): Promise<void> {
  const pids = await readFile(join(root, 'pids'), 'utf8').catch(() => '');
  for (const pid of pids
    .split('\n')
    .map(Number)
    .filter((value) => value > 0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
