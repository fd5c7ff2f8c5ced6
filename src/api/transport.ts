/** Opening a location (registry, OCI layout, archive) as a source, destination or tag store; a registry's catalog, credentials check and rate limit. */
export {
  openSource,
  openDestination,
  openReferences,
  listCatalog,
  verifyCredentials,
  registryRateLimit,
  describeRateLimit,
  type RateLimitInfo,
  type RateLimitReport,
} from "../transport/index.js";
export type { MirrorConfig } from "../transport/mirrors.js";
