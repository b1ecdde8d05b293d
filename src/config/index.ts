export { loadConfig, defaultDataDir, readTextFile, type LoadOptions, type LoadedConfig } from './load.ts';
export { parseConfigText, type ParsedConfigFile } from './parse.ts';
export { resolveConfig, type ConfigFlags, type ResolveContext } from './resolve.ts';
export { durationMs } from './duration.ts';
export { ROLE_MODES } from './file-schema.ts';
export * from './config.ts';
