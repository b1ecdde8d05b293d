import type { VpnStatus } from '../vpn/index.ts';
import { ExitCode, KairosError } from '../shared/errors.ts';
import type { ApiServer } from './api-server.ts';

/**
 * `GET /vpn/status`. Pass `undefined` when the VPN is off (`--no-vpn`, `p2p.vpn.create: false`)
 * so the CLI says so instead of "no such API".
 */
export function registerVpnRoutes(api: ApiServer, vpn: { status(): VpnStatus } | undefined): void {
  api.route('GET', '/vpn/status', () => {
    if (vpn === undefined)
      return Promise.reject(
        new KairosError('VPN_DISABLED', 'the VPN is off on this node (--no-vpn): it runs coordination only', {
          exitCode: ExitCode.unavailable,
        }),
      );
    return Promise.resolve(vpn.status());
  });
}
