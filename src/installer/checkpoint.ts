/**
 * Crash injection for the kill tests: when KAIROS_MESH_CRASH_AT names a checkpoint, the process
 * SIGKILLs itself on reaching it, exactly as a power cut or OOM kill would stop it there.
 * Without the variable this does nothing.
 */
export const UPGRADE_CHECKPOINTS = [
  'pulled',
  'recovered',
  'build-started',
  'image-built',
  'committed',
  'link-made:passive.img',
  'link-renamed:passive.img',
  'env-written:1',
  'link-made:active.img',
  'link-renamed:active.img',
  'env-written:2',
  'env-written:3',
  'unlinked',
] as const;

const reached = new Map<string, number>();

export function checkpoint(name: string): void {
  const target = process.env['KAIROS_MESH_CRASH_AT'];
  if (target === undefined || target === '') return;
  const count = (reached.get(name) ?? 0) + 1;
  reached.set(name, count);
  if (target === name || target === `${name}:${count}`) process.kill(process.pid, 'SIGKILL');
}
