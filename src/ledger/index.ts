export { Ledger, type LedgerOptions, type LedgerStats, type VerifyReport, type WriteOp } from './ledger.ts';
export type { Entry, Op, RejectReason } from './entry.ts';
export type { StateItem, StateChange } from './merge.ts';
export type { JsonValue } from './canonical.ts';
export type { VersionVector } from './vector.ts';
export { LEDGER_SYNC_PROTOCOL, offlineTransport, type LedgerTransport } from './transport.ts';
export {
  createLibp2pLedgerTransport,
  type Libp2pLedgerNode,
  type Libp2pLedgerTransportOptions,
} from './libp2p-transport.ts';
export { SYSTEM_BUCKETS, ruleFor, type BucketRule } from './rules.ts';
export { MemoryNetwork } from './memory-transport.ts';
export { FeedWriter } from './feed-writer.ts';
