/**
 * Referrers (signatures, attestations, SBOMs) copied with their images.
 * `copyReferrersOf` is what `dray copy --referrers` calls after the image
 * itself arrived; sync uses `copyReferrers` with its own transfer (shared
 * mounts and limits).
 */
import { stopwatch } from "../clock.js";
import { copyImage } from "../copy/engine.js";
import { createLimiter } from "../copy/limit.js";
import type { BlobCounts, CopyOptions } from "../copy/types.js";
import type { Digest } from "../oci/digest.js";
import type { Location } from "../ref/location.js";
import type { TransportOptions } from "../transport/types.js";
import { copyReferrers, type ReferrerResult, type Subject, type Transfer } from "./copy.js";
import { RepositoryFactory } from "../transport/repository.js";

export {
  addToReferrersIndex,
  copyReferrers,
  buildReferrersIndex,
  type ItemOutcome,
  type ReferrerCopyContext,
  type ReferrerResult,
  type Subject,
  type Transfer,
} from "./copy.js";
export type { ItemError } from "../errors.js";
export { RepositoryFactory } from "../transport/repository.js";
export type { Repository, RepoRef, TagHead } from "../transport/types.js";
export {
  COSIGN_SUFFIXES,
  cosignTag,
  groupReferrerTags,
  isReferrerTag,
  parseReferrerTag,
  referrersTag,
  type ReferrerTag,
  type ReferrerTagKind,
} from "../oci/referrer-tags.js";

export interface CopyReferrersOptions {
  source?: TransportOptions;
  destination?: TransportOptions;
  signal?: AbortSignal;
  /** Referrer manifests copied at once (default 4). */
  jobs?: number;
  dryRun?: boolean;
  onResult?: (r: ReferrerResult) => void;
}

export interface ReferrersSummary {
  /** Referrer manifests and cosign tags (the tag schema's index is bookkeeping and counted only when it failed). */
  copied: number;
  upToDate: number;
  failed: number;
  planned: number;
  blobs: BlobCounts;
  bytes: number;
  seconds: number;
  items: ReferrerResult[];
}

/** A Transfer over the copy engine, bounded to `jobs` at once; counts what moved into `into`. */
export function engineTransfer(
  opts: Pick<CopyOptions, "signal"> & { jobs?: number },
  into: { blobs: BlobCounts; bytes: number },
): Transfer {
  const limit = createLimiter(opts.jobs ?? 4, opts.signal);
  return (src, dst, from, to) =>
    limit(async () => {
      const source = await src.openSource(from);
      try {
        const summary = await copyImage(source, await dst.openDestination(to), opts.signal ? { signal: opts.signal } : {});
        into.blobs.copied += summary.blobs.copied;
        into.blobs.skipped += summary.blobs.skipped;
        into.blobs.mounted += summary.blobs.mounted;
        into.bytes += summary.bytes;
        return summary;
      } finally {
        await source.close();
      }
    });
}

/**
 * Copies what refers to `subjects` (the digests of images already copied
 * from `src`'s repository to `dst`'s), recursively. `src` and `dst` may name
 * a tag or digest; only their repository counts. Registries, OCI layouts and
 * oci-archives: an archive is staged as a layout (RepositoryFactory.openStaged)
 * and, as a destination, packed back into a new file renamed over it when
 * something was written (not on a dry run).
 */
export async function copyReferrersOf(
  src: Location,
  dst: Location,
  subjects: ReadonlyArray<Subject | Digest>,
  opts: CopyReferrersOptions = {},
): Promise<ReferrersSummary> {
  const elapsed = stopwatch();
  const srcRepo = await new RepositoryFactory(() => opts.source ?? {}).openStaged(src, { readOnly: true });
  let items: ReferrerResult[];
  const moved = { blobs: { copied: 0, skipped: 0, mounted: 0 }, bytes: 0 };
  try {
    const dstRepo = await new RepositoryFactory(() => opts.destination ?? {}).openStaged(dst);
    try {
      items = await copyReferrers(
        {
          src: srcRepo.repo,
          dst: dstRepo.repo,
          transfer: engineTransfer({ ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.jobs ? { jobs: opts.jobs } : {}) }, moved),
          ...(opts.dryRun ? { dryRun: true } : {}),
          ...(opts.onResult ? { onResult: opts.onResult } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
        },
        subjects.map((s) => ("digest" in s ? s : { digest: s })),
      );
      // What arrived is kept even when another referrer failed (each outcome is in `items`).
      if (!opts.dryRun && items.some((r) => r.outcome === "copied")) await dstRepo.publish();
    } finally {
      await dstRepo.close();
    }
  } finally {
    await srcRepo.close();
  }
  const summary: ReferrersSummary = { copied: 0, upToDate: 0, failed: 0, planned: 0, ...moved, seconds: 0, items };
  for (const r of items) {
    if (r.kind === "index-tag" && r.outcome !== "failed") continue;
    if (r.outcome === "up-to-date") summary.upToDate++;
    else summary[r.outcome]++;
  }
  summary.seconds = elapsed();
  return summary;
}
