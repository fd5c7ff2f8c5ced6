/** Mirroring many repositories from a configuration (`dray sync`): its sources and targets, shards, and the layouts a sync into a folder wrote. */
export { sync, loadSyncConfig, parseSyncSource, parseSyncTarget, parseShard, formatShard, layoutsInFolder } from "../sync/index.js";
export type * from "../sync/types.js";
