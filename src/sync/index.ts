/**
 * `dray sync` as a library: `sync(rules, opts)` mirrors repositories and
 * tags (and their referrers) and returns a summary; `loadSyncConfig` reads
 * the YAML file into rules.
 */
export { sync, DEFAULT_SYNC_JOBS } from "./engine.js";
export { loadSyncConfig, optionsFor, parseSyncConfig, withRegistrySettings, type RegistrySettings, type SyncConfig } from "./config.js";
export { checkTagFilter, selectTags, tagVersion, type TagFilter, type TagSelection } from "./filter.js";
export { parseSyncSource, parseSyncTarget, registryOnly, underPrefix } from "./locations.js";
export { findLayouts, layoutsInFolder } from "./expand.js";
export { MountLedger } from "./mounts.js";
export { formatShard, inShard, parseShard, shardOf } from "./shard.js";
export { pruneCandidates } from "./prune.js";
export type * from "./types.js";
