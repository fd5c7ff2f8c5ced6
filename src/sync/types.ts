import type { Resign, SignatureWritten } from "../signature/sign.js";
import type { ManifestFormat } from "../copy/convert.js";
import type { LayerCompression } from "../oci/mediatype.js";
import type { BlobCounts, CopyEvent } from "../copy/types.js";
import type { Platform } from "../oci/platform.js";
import type { ItemError } from "../errors.js";
import type { ItemOutcome, ReferrerResult } from "../referrers/copy.js";
import type { Location } from "../ref/location.js";
import type { TransportOptions } from "../transport/types.js";
import type { TrustFlags } from "../signature/policy.js";
import type { TagFilter } from "./filter.js";
import type { PruneItem } from "./prune.js";
import type { Shard } from "./shard.js";

export type { ItemError, ItemOutcome, PruneItem, ReferrerResult, Shard, TagFilter };

/**
 * Where a rule's repositories come from:
 * - `repository`: one registry repository, or one OCI layout directory;
 * - `registry`: repositories of a registry (`repositories`, else its catalog);
 * - `layouts`: a folder of OCI layouts, one per repository (`DIR/team/app/`), as `dray sync … oci:DIR` writes them;
 * - `archive`: a mirror in one oci-archive, images named `REPO:TAG`, as `dray sync … oci-archive:FILE` writes it.
 */
export type SyncSource =
  | { kind: "repository"; location: Location }
  | { kind: "registry"; domain: string; repositories?: string[] }
  | { kind: "layouts"; path: string; repositories?: string[] }
  | { kind: "archive"; path: string; repositories?: string[] };

/**
 * Where they go:
 * - `repository`: exactly this repository or layout (a `repository` source only);
 * - `prefix`: a registry path prefix (`docker://host/mirror`, path may be empty) or a folder of layouts (`oci:DIR`); the source repository's path is appended.
 */
export type SyncTarget = { kind: "repository"; location: Location } | { kind: "prefix"; location: Location };

export interface SyncRule {
  source: SyncSource;
  destination: SyncTarget;
  tags?: TagFilter;
  /** Only these platforms of an index (the destination then holds a new index of just them). */
  platforms?: Platform[];
  /** Copy referrers (signatures, attestations, SBOMs) too; default true. */
  referrers?: boolean;
  /** A tag the destination already has is left alone, unasked at the source (its referrers too). */
  skipExisting?: boolean;
  /** Destination tags the source no longer has (and the filter would take) are removed after a clean sync of the repository. */
  prune?: boolean;
  /** Where the rule was written (`sync.yaml:12`), for messages. */
  origin?: string;
  /** The signature gate for this rule's images (a sync file's `verify:` under the rule); wins over the registry's and the run's. */
  verify?: TrustFlags;
}

export interface SyncOptions {
  /** Repositories and images in flight at once (default 4). */
  jobs?: number;
  /** Convert every image's manifests to this format (`--manifest-format`, YAML `manifest-format`). */
  manifestFormat?: ManifestFormat;
  /** Recompress every layer (`--compress`, YAML `compress`), at `compressLevel` (`--compress-level`, YAML `compress-level`). */
  compress?: LayerCompression;
  compressLevel?: number;
  /** Stop at the first failure (default: keep going and report every failure at the end). */
  failFast?: boolean;
  /** Compare and report, copy nothing. */
  dryRun?: boolean;
  signal?: AbortSignal;
  /** Connection settings for a source location (credentials per registry). */
  sourceOptions?: (loc: Location) => TransportOptions;
  destinationOptions?: (loc: Location) => TransportOptions;
  /**
   * Per-registry settings (a sync file's `registries:`, by `host[:port]`),
   * applied on top of sourceOptions / destinationOptions for that host.
   */
  registries?: ReadonlyMap<string, RegistrySettings>;
  onEvent?: (event: SyncEvent) => void;
  /** Every image copy's own events (blobs starting, bytes, done), for a terminal's live status. */
  onProgress?: (event: CopyEvent) => void;
  /** Take only this shard's images (see shard.ts). */
  shard?: Shard;
  /** The signature gate of every image (`--policy`, the certificate flags, a sync file's top-level `verify:`). */
  verify?: TrustFlags;
  /**
   * Re-sign every image copied (`--sign-key`, a sync file's `sign-key`): after
   * it landed and before its tag is written; a converted image's new digest.
   * Images already up to date are left as they are.
   */
  sign?: Resign;
}

/** An image left out because its source registry's rate limit ran low (min-remaining): not copied, not failed. */
export interface SkippedItem {
  source: string;
  destination: string;
  tag: string;
  reason: string;
}

/** One image (a tag) of a sync and what happened to it. */
export interface ImageItem {
  source: string;
  destination: string;
  tag: string;
  digest?: string;
  /** `refused`: the signature gate refused it (not copied, not a failure: the run exits 6 when refusals are all that went wrong). */
  outcome: ItemOutcome | "refused";
  error?: ItemError;
  /** Blobs and bytes when it was copied. */
  blobs?: BlobCounts;
  bytes?: number;
  platforms?: string[];
  /** Left alone because the destination has the tag (skip-existing): its digest was not asked. */
  existing?: boolean;
  /** The signatures re-signing wrote for it (`sign-key`), before its tag was written. */
  signatures?: SignatureWritten[];
}

/** A referrer (signature, attestation, SBOM, or the tag schema's index) and what happened to it. */
export interface ReferrerItem extends ReferrerResult {
  source: string;
  destination: string;
}

/** A repository that could not be read at all (listing its tags failed, or the catalog). */
export interface RepositoryFailure {
  source: string;
  destination?: string;
  error: ItemError;
}

/** A repository whose prune was not done, and why. */
export interface PruneSkip {
  source: string;
  destination: string;
  reason: string;
}

export interface PruneCounts {
  pruned: number;
  planned: number;
  failed: number;
}

export interface OutcomeCounts {
  copied: number;
  upToDate: number;
  failed: number;
  planned: number;
}

/** Images are also refused by the signature gate (never copied, not failures). */
export interface ImageCounts extends OutcomeCounts {
  refused: number;
}

/** An image the signature gate refused, and why. */
export interface Refusal {
  source: string;
  destination: string;
  tag: string;
  digest?: string;
  message: string;
}

export interface SyncSummary {
  dryRun: boolean;
  repositories: number;
  /** Rules or repositories that failed as a whole (a source not found, a tag list refused): each one of `failures`. */
  failedRepositories: number;
  images: ImageCounts;
  referrers: OutcomeCounts;
  blobs: BlobCounts;
  /** Bytes read from sources for blobs that were copied. */
  bytes: number;
  seconds: number;
  /** Every failure, repository-level and per item. */
  failures: Array<{ source: string; destination?: string; tag?: string; digest?: string; code: string; message: string }>;
  items: ImageItem[];
  referrerItems: ReferrerItem[];
  /** Images the signature gate refused (also with --dry-run: what would be refused). */
  refused: Refusal[];
  /** Images left for a later run because a registry's rate limit ran low (min-remaining); the run exits 1. */
  skipped?: SkippedItem[];
  /** The shard this run took (`--shard K/N`). */
  shard?: Shard;
  /** With prune: what it removed (or would, in a dry run), what it could not, and repositories it left alone. */
  prune?: PruneCounts;
  pruneItems?: PruneItem[];
  pruneSkipped?: PruneSkip[];
}

export type SyncEvent =
  | {
      type: "repository";
      source: string;
      destination: string;
      tags: number;
      /** Set when regex/semver/newest matched no tag: the filter, for a note. */ unmatched?: string;
    }
  | { type: "image"; item: ImageItem }
  | { type: "referrer"; item: ReferrerItem }
  | { type: "repository-failed"; failure: RepositoryFailure }
  | { type: "prune"; item: PruneItem }
  | { type: "skipped"; item: SkippedItem }
  | { type: "prune-skipped"; skip: PruneSkip }
  /** Said once a run: what the run does differently from what one may expect (converted images keep no referrers). */
  | { type: "notice"; message: string }
  | { type: "done"; summary: SyncSummary };

/** A sync file's settings for one registry (`registries: {HOST: {...}}`). */
export interface RegistrySettings {
  username?: string;
  password?: string;
  authfile?: string;
  insecure?: boolean;
  caFile?: string;
  /** containers-certs.d folder (`cert-dir`), client pair (`client-cert`, `client-key`): mTLS. */
  certDir?: string;
  clientCert?: string;
  clientKey?: string;
  retries?: number;
  /** Token realms on an unrelated site that may receive the credential (`--trust-realm`). */
  trustRealms?: string[];
  /** Request starts per second to this host (`requests-per-second`). */
  requestsPerSecond?: number;
  /** Requests in flight to this host at once (`concurrency`). */
  concurrency?: number;
  /** Start no more pulls from this registry once its RateLimit-Remaining is this low (`min-remaining`). */
  minRemaining?: number;
  /** The signature gate for images from this registry (`verify:` under the registry); wins over the run's. */
  verify?: TrustFlags;
}
