/**
 * LevelDB's defaults (8 MiB block cache, 4 MiB write buffer, 1,000 open tables) suit a database
 * server; the daemon keeps its working state in memory anyway and lives on small machines.
 */
export const SMALL_LEVELDB = { cacheSize: 1 << 20, writeBufferSize: 1 << 20, maxOpenFiles: 64 };
