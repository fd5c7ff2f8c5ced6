/**
 * `dray sync`: many repositories and tags, mirrored with as few requests as
 * the work needs. For each tag, the source's digest and the destination's
 * (one HEAD each, or an index.json read for a layout) decide: equal is done,
 * anything else goes through the copy engine. Repositories and images run in
 * parallel (`jobs`); a blob shared by several repositories is uploaded once
 * per destination registry and mounted into the others (MountLedger). One
 * failing image or repository is reported and the rest go on, unless
 * `failFast`. Referrers follow their images (src/referrers).
 */
import { stopwatch } from "../clock.js";
import { copyImage } from "../copy/engine.js";
import { createLimiter, type Limiter } from "../copy/limit.js";
import { selectPlatforms } from "../copy/select.js";
import type { BlobCounts, CopySummary } from "../copy/types.js";
import { InterruptedError, isAbortError, NotFoundError } from "../errors.js";
import { parseRawManifest } from "../oci/manifest.js";
import { formatPlatform, type Platform } from "../oci/platform.js";
import { formatLocation } from "../ref/location.js";
import { copyReferrers, itemError, type Subject, type Transfer } from "../referrers/copy.js";
import { RepositoryFactory } from "../transport/repository.js";
import type { Repository, TransportOptions } from "../transport/types.js";
import { withRegistrySettings } from "./config.js";
import { expandRules, type RepositoryPair } from "./expand.js";
import { checkTagFilter, describeNarrowing, selectTags, type TagFilter } from "./filter.js";
import { MountLedger } from "./mounts.js";
import type { ImageItem, OutcomeCounts, ReferrerItem, RepositoryFailure, SyncEvent, SyncOptions, SyncRule, SyncSummary } from "./types.js";

export const DEFAULT_SYNC_JOBS = 4;

/** The reason the run's signal carries when --fail-fast stops it: not a failure of the items it interrupts. */
class FailFastStop extends Error {
  constructor() {
    super("stopped after the first failure (--fail-fast)");
    this.name = "FailFastStop";
  }
}

function counts(): OutcomeCounts {
  return { copied: 0, upToDate: 0, failed: 0, planned: 0 };
}

function tally(c: OutcomeCounts, outcome: ImageItem["outcome"]): void {
  if (outcome === "up-to-date") c.upToDate++;
  else c[outcome]++;
}

/** Everything one run shares: limits, the mount ledger, counters and the results. */
class SyncRun {
  readonly elapsed = stopwatch();
  /** Tripped by --fail-fast. */
  readonly controller = new AbortController();
  /** Aborted on the caller's signal or by --fail-fast. */
  readonly signal: AbortSignal;
  readonly sources: RepositoryFactory;
  readonly destinations: RepositoryFactory;
  readonly ledger = new MountLedger();
  /** Repositories in flight. */
  readonly repos: Limiter;
  /** Images (copy engine runs) in flight. */
  readonly images: Limiter;
  /** HEADs and small reads in flight. */
  readonly requests: Limiter;
  readonly items: ImageItem[] = [];
  readonly referrerItems: ReferrerItem[] = [];
  readonly repoFailures: RepositoryFailure[] = [];
  readonly blobs: BlobCounts = { copied: 0, skipped: 0, mounted: 0 };
  bytes = 0;

  constructor(readonly opts: SyncOptions) {
    this.signal = opts.signal ? AbortSignal.any([this.controller.signal, opts.signal]) : this.controller.signal;
    const jobs = opts.jobs ?? DEFAULT_SYNC_JOBS;
    this.repos = createLimiter(jobs, this.signal);
    this.images = createLimiter(jobs, this.signal);
    this.requests = createLimiter(Math.max(8, jobs * 2), this.signal);
    const none = (): TransportOptions => ({});
    this.sources = new RepositoryFactory(withRegistrySettings(opts.sourceOptions ?? none, opts.registries));
    this.destinations = new RepositoryFactory(withRegistrySettings(opts.destinationOptions ?? none, opts.registries));
  }

  emit(e: SyncEvent): void {
    this.opts.onEvent?.(e);
  }

  /** True when an error only says the run was stopped (fail-fast), so the item is not reported. */
  stopped(err: unknown): boolean {
    return this.signal.aborted && this.signal.reason instanceof FailFastStop && (err instanceof FailFastStop || err instanceof InterruptedError || isAbortError(err));
  }

  failed(): void {
    if (this.opts.failFast && !this.signal.aborted) this.controller.abort(new FailFastStop());
  }

  record(item: ImageItem): void {
    this.items.push(item);
    if (item.outcome === "failed") this.failed();
    this.emit({ type: "image", item });
  }

  recordReferrer(item: ReferrerItem): void {
    if (item.outcome === "failed" && item.error && this.signal.aborted && this.signal.reason instanceof FailFastStop) return;
    this.referrerItems.push(item);
    if (item.outcome === "failed") this.failed();
    this.emit({ type: "referrer", item });
  }

  recordRepository(failure: RepositoryFailure): void {
    this.repoFailures.push(failure);
    this.failed();
    this.emit({ type: "repository-failed", failure });
  }

  add(summary: CopySummary): void {
    this.blobs.copied += summary.blobs.copied;
    this.blobs.skipped += summary.blobs.skipped;
    this.blobs.mounted += summary.blobs.mounted;
    this.bytes += summary.bytes;
  }

  /** The copy primitive: one engine run, bounded by `images`, into a destination that shares mounts. */
  transfer(platforms: readonly Platform[] = []): Transfer {
    return (src, dst, from, to) =>
      this.images(async () => {
        const source = await src.openSource(from);
        try {
          const destination = this.ledger.wrap(await dst.openDestination(to));
          const summary = await copyImage(source, destination, { signal: this.signal, ...(platforms.length > 0 ? { platforms: [...platforms] } : {}) });
          this.add(summary);
          return summary;
        } finally {
          await source.close();
        }
      });
  }
}

/** The digest the destination would get for a platform subset: read the source's index and select, as the engine will. */
async function subsetDigest(src: Repository, tag: string, platforms: readonly Platform[]): Promise<string> {
  const raw = await src.getManifest(tag);
  const parsed = parseRawManifest(raw, `${src.display}:${tag}`);
  if (parsed.kind !== "index") return raw.digest.toString();
  return selectPlatforms(raw, parsed, platforms, `${src.display}:${tag}`).index.digest.toString();
}

/** One tag: compare, then copy when the destination differs. Returns the subject for referrers, if any. */
async function syncImage(run: SyncRun, pair: RepositoryPair, src: Repository, dst: Repository, tag: string): Promise<Subject | undefined> {
  const platforms = pair.rule.platforms ?? [];
  const base: ImageItem = { source: `${src.display}:${tag}`, destination: `${dst.display}:${tag}`, tag, outcome: "failed" };
  if (platforms.length > 0) base.platforms = platforms.map(formatPlatform);
  try {
    const [sh, dh] = await Promise.all([run.requests(() => src.resolve(tag)), run.requests(() => dst.resolve(tag))]);
    if (!sh) throw new NotFoundError(`tag ${tag} not found in ${src.display}`, { where: base.source });
    // A platform subset is a new index with its own digest: compare with that one.
    const wanted = platforms.length > 0 ? await run.requests(() => subsetDigest(src, tag, platforms)) : sh.digest.toString();
    const subject: Subject | undefined = wanted === sh.digest.toString() ? { digest: sh.digest, mediaType: sh.mediaType } : undefined;
    if (dh?.digest.toString() === wanted) {
      run.record({ ...base, digest: wanted, outcome: "up-to-date" });
      return subject;
    }
    if (run.opts.dryRun) {
      run.record({ ...base, digest: wanted, outcome: "planned" });
      return subject;
    }
    const summary = await run.transfer(platforms)(src, dst, { tag, digest: sh.digest }, { tag });
    run.record({ ...base, digest: summary.digest, outcome: summary.upToDate ? "up-to-date" : "copied", blobs: summary.blobs, bytes: summary.bytes });
    return subject;
  } catch (err) {
    if (!run.stopped(err)) run.record({ ...base, error: itemError(err) });
    return undefined;
  }
}

/** The filter's description when it narrowed a non-empty tag list to nothing (a typo in a range should not pass silently). */
function unmatchedFilter(all: readonly string[], taken: number, f: TagFilter): string | undefined {
  return taken === 0 && all.length > 0 && (f.names ?? []).length === 0 ? describeNarrowing(f) : undefined;
}

async function syncRepository(run: SyncRun, pair: RepositoryPair): Promise<void> {
  const src = await run.sources.open(pair.source);
  const dst = await run.destinations.open(pair.destination);
  let tags: string[];
  try {
    tags = await run.requests(() => src.listTags());
  } catch (err) {
    if (!run.stopped(err)) run.recordRepository({ source: src.display, destination: dst.display, error: itemError(err) });
    return;
  }
  const selection = selectTags(tags, pair.rule.tags);
  if (selection.tags.length > 0 && !run.opts.dryRun) {
    try {
      await dst.prepare();
    } catch (err) {
      if (!run.stopped(err)) run.recordRepository({ source: src.display, destination: dst.display, error: itemError(err) });
      return;
    }
  }
  const filter = pair.rule.tags ?? {};
  const unmatched = unmatchedFilter(tags, selection.tags.length, filter);
  run.emit({ type: "repository", source: src.display, destination: dst.display, tags: selection.tags.length, ...(unmatched ? { unmatched } : {}) });
  for (const tag of selection.missing) {
    const where = `${src.display}:${tag}`;
    run.record({ source: where, destination: `${dst.display}:${tag}`, tag, outcome: "failed", error: { code: "E_NOT_FOUND", message: `tag ${tag} not found in ${src.display}` } });
  }
  const subjects = (await Promise.all(selection.tags.map((tag) => syncImage(run, pair, src, dst, tag)))).filter((s): s is Subject => s !== undefined);
  if (pair.rule.referrers === false || subjects.length === 0 || run.signal.aborted) return;
  await copyReferrers(
    {
      src,
      dst,
      srcTags: tags,
      transfer: run.transfer(),
      requests: run.requests,
      ...(run.opts.dryRun ? { dryRun: true } : {}),
      onResult: (r) => run.recordReferrer({ ...r, source: src.display, destination: dst.display }),
    },
    subjects,
  );
}

function summarize(run: SyncRun, repositories: number): SyncSummary {
  const images = counts();
  for (const i of run.items) tally(images, i.outcome);
  const referrers = counts();
  // The tag schema's index is bookkeeping: counted only when it failed (so the run fails).
  for (const r of run.referrerItems) if (r.kind !== "index-tag" || r.outcome === "failed") tally(referrers, r.outcome);
  const failures: SyncSummary["failures"] = [
    ...run.repoFailures.map((f) => ({ source: f.source, ...(f.destination ? { destination: f.destination } : {}), ...f.error })),
    ...run.items.filter((i) => i.outcome === "failed").map((i) => ({ source: i.source, destination: i.destination, tag: i.tag, code: i.error!.code, message: i.error!.message })),
    ...run.referrerItems
      .filter((r) => r.outcome === "failed")
      .map((r) => ({
        source: r.source,
        destination: r.destination,
        ...(r.tag ? { tag: r.tag } : {}),
        ...(r.digest ? { digest: r.digest } : {}),
        code: r.error!.code,
        message: r.error!.message,
      })),
  ];
  return {
    dryRun: run.opts.dryRun === true,
    repositories,
    images,
    referrers,
    blobs: { ...run.blobs },
    bytes: run.bytes,
    seconds: run.elapsed(),
    failures,
    items: run.items,
    referrerItems: run.referrerItems,
  };
}

/**
 * Mirrors what `rules` name. Never throws for a failing image or repository:
 * they are in the summary's `failures` (the CLI exits 1). Throws for a rule
 * that cannot be read at all as typed (a bad tag filter: UsageError) and
 * InterruptedError when `opts.signal` aborts.
 */
export async function sync(rules: readonly SyncRule[], opts: SyncOptions = {}): Promise<SyncSummary> {
  for (const r of rules) if (r.tags) checkTagFilter(r.tags);
  const run = new SyncRun(opts);
  const expansion = await expandRules(rules, run.sources);
  for (const f of expansion.failures) run.recordRepository({ source: f.source, destination: f.destination, error: itemError(f.error) });
  await Promise.all(
    expansion.pairs.map((pair) =>
      run.repos(() => syncRepository(run, pair)).catch((err: unknown) => {
        if (!run.stopped(err) && !(err instanceof InterruptedError)) {
          run.recordRepository({ source: formatLocation(pair.source), destination: formatLocation(pair.destination), error: itemError(err) });
        }
      }),
    ),
  );
  if (opts.signal?.aborted) throw new InterruptedError();
  const summary = summarize(run, expansion.pairs.length);
  run.emit({ type: "done", summary });
  return summary;
}
