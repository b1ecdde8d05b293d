import type { ApiServer } from './api-server.ts';
import { ExitCode, KairosError } from '../shared/errors.ts';
import type { RolesService } from '../roles/index.ts';

/**
 * Control API of the roles module:
 * - GET  /roles            -> RolesSnapshot (committed decision, per-node role and state, k3s)
 * - POST /roles/set        {node, role} -> {peerId, name, role}
 * - GET  /roles/kubeconfig -> {kubeconfig, from: {peerId, name}}
 */
export function registerRolesRoutes(api: ApiServer, roles: RolesService): void {
  api.route('GET', '/roles', () => Promise.resolve(roles.snapshot()));
  api.route('POST', '/roles/set', async ({ body }) => {
    const { node, role } = (body ?? {}) as { node?: unknown; role?: unknown };
    if (typeof node !== 'string' || node === '' || typeof role !== 'string')
      throw new KairosError('USAGE', 'expected {"node": "<name or peer id>", "role": "<role>"}', {
        exitCode: ExitCode.usage,
      });
    return roles.setRole(node, role);
  });
  api.route('GET', '/roles/kubeconfig', ({ signal }) => roles.kubeconfig(signal));
}
