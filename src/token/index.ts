export {
  newToken,
  encodeToken,
  decodeToken,
  TOKEN_PREFIX,
  DEFAULT_NETWORK_ID,
  DEFAULT_EPOCH_SECONDS,
  type NetworkToken,
} from './codec.ts';
export { deriveKeys, epochAt, activeEpochs, rendezvousCid, type NetworkKeys } from './derive.ts';
