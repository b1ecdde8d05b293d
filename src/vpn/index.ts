export { VpnService } from './service.ts';
export type { VpnServiceOptions, VpnSettings, VpnStatus, VpnPeerStatus } from './service.ts';
export type { VpnKv, VpnKvEntry, VpnKvChange, VpnMembership, RelayTransport, RelayStream } from './ports.ts';
export { VPN_RELAY_PROTOCOL } from './relay.ts';
export { VPN_BUCKET, parseVpnRecord, type VpnRecord } from './record.ts';
