/** The dray library: everything the CLI does is importable from here. */
export * from "./errors.js";
export * from "./oci/digest.js";
export * from "./oci/mediatype.js";
export * from "./oci/manifest.js";
export * from "./oci/platform.js";
export * from "./ref/reference.js";
export * from "./ref/location.js";
export type * from "./transport/types.js";
export { copy, copyAllTags, copyImage, copyTags, type CopyLocationOptions } from "./copy/index.js";
export type * from "./copy/types.js";
export {
  openSource,
  openDestination,
  openReferences,
  listCatalog,
  verifyCredentials,
  registryRateLimit,
  type RateLimitInfo,
  type RateLimitReport,
} from "./transport/index.js";
export { inspect, inspectRaw, inspectConfig, inspectConfigRaw, manifestDigest, type InspectOptions } from "./inspect/index.js";
export type { ImageSummary, IndexSummary, IndexEntrySummary, LayerData } from "./inspect/index.js";
export {
  storeCredential,
  removeCredential,
  dockerConfigPath,
  type StoreOptions,
  type StoreResult,
  type RemoveResult,
} from "./auth/login.js";
export { sync, loadSyncConfig } from "./sync/index.js";
export {
  copyReferrersOf,
  attach,
  pushReferrer,
  type AttachFile,
  type AttachOptions,
  type AttachResult,
  type PushReferrerOptions,
  type PushReferrerResult,
  type ReferrerBlob,
  type ReferrerContent,
} from "./referrers/index.js";
export { exportFilesystem, type ContentOptions } from "./content/export.js";
export { catFile, listFiles, type ListedEntry } from "./content/cat.js";
export { openVerifiedBlob, type VerifiedBlob } from "./content/blob.js";
export {
  referrersTree,
  type ReferrerNode,
  type ReferrersTree,
  type ReferrersOptions as ReferrersTreeOptions,
} from "./content/referrers.js";
export * from "./signature/index.js";
export { createIndex, appendToIndex, removeFromIndex, type IndexOptions, type IndexResult, type IndexEntry } from "./assemble/index.js";
export type { AssembleOptions } from "./assemble/index.js";
export {
  mutate,
  parseAnnotation,
  parseCreated,
  sourceDateEpoch,
  type MutateOptions,
  type MutateResult,
  type ManifestChange,
} from "./assemble/index.js";
export type { TargetedAnnotation, AnnotationTarget } from "./assemble/index.js";
export { append, SCRATCH, type AppendOptions, type AppendResult, type AppendedLayer } from "./assemble/index.js";
