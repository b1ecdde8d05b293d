import type * as Installer from '../installer/index.ts';
import type * as DaemonModule from '../daemon/index.ts';

/**
 * Heavy modules are loaded by the commands that use them, not at CLI start: `kairos-mesh
 * status` stays quick, and a daemon never carries the installer in memory.
 */
export function loadInstaller(): Promise<typeof Installer> {
  return import('../installer/index.ts');
}

export function loadDaemon(): Promise<typeof DaemonModule> {
  return import('../daemon/index.ts');
}
