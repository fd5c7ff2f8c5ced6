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
import { stat } from "node:fs/promises";
import { stopwatch } from "../clock.js";
import { conversionOf, copyImage } from "../copy/engine.js";
import { createLimiter, type Limiter } from "../copy/limit.js";
import { selectPlatforms } from "../copy/select.js";
import { transferLimits, type TransferLimits } from "../copy/session.js";
import type { BlobCounts, CopySummary } from "../copy/types.js";
import { FailFastStop, InterruptedError, isAbortError, itemError, NotFoundError, RateLimitFloor, RegistryError } from "../errors.js";
import { parseRawManifest } from "../oci/manifest.js";
import { Digest } from "../oci/digest.js";
import { formatPlatform, type Platform } from "../oci/platform.js";
import { formatLocation, type Location } from "../ref/location.js";
import { copyReferrers, type Subject, type Transfer } from "../referrers/copy.js";
import { RepositoryFactory } from "../transport/repository.js";
import type { Repository, TransportOptions } from "../transport/types.js";
import { withRegistrySettings } from "./config.js";
import { expandRules, type RepositoryPair } from "./expand.js";
import { checkTagFilter, describeNarrowing, selectTags, type TagFilter } from "./filter.js";
import { ArchiveRepository } from "../transport/repository.js";
import { lastRateLimit, MirrorArchive } from "../transport/index.js";
import { MountLedger } from "./mounts.js";
import { pruneCandidates, pruneFailure, type PruneItem } from "./prune.js";
import { formatShard, inShard, parseShard } from "./shard.js";
import { policyFromFlags, type SignaturePolicy, type TrustFlags } from "../signature/policy.js";
import { verifyImage } from "../signature/verify.js";
import { resignHook, signUnlessSigned, type SignatureWritten } from "../signature/sign.js";
import type { BeforeTag } from "../copy/types.js";
import type {
  ImageCounts,
  ImageItem,
  OutcomeCounts,
  PruneSkip,
  SkippedItem,
  ReferrerItem,
  RepositoryFailure,
  SyncEvent,
  SyncOptions,
  SyncRule,
  SyncSummary,
} from "./types.js";
import { defined } from "../defined.js";

export const DEFAULT_SYNC_JOBS = 4;
/**
 * Blob bodies in flight for a whole sync run, whatever `jobs` says (large ones fewer, in the 64 MiB window):
 * about what docker pushes and pulls with (5 uploads, 3 downloads at once), which Docker Hub and a small Harbor take.
 */
export const SYNC_BLOBS_IN_FLIGHT = 8;

function counts(): ImageCounts {
  return { copied: 0, upToDate: 0, failed: 0, planned: 0, refused: 0 };
}

function tally(c: OutcomeCounts | ImageCounts, outcome: ImageItem["outcome"]): void {
  if (outcome === "up-to-date") c.upToDate++;
  else if (outcome === "refused") {
    if ("refused" in c) c.refused++;
  } else c[outcome]++;
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
  /** The blob window and request slots every image of the run draws on (SYNC_BLOBS_IN_FLIGHT). */
  readonly limits: TransferLimits;
  readonly items: ImageItem[] = [];
  readonly referrerItems: ReferrerItem[] = [];
  readonly repoFailures: RepositoryFailure[] = [];
  readonly pruneItems: PruneItem[] = [];
  readonly skipped: SkippedItem[] = [];
  private convertedNoticed = false;

  /** Once a run: images converted (new digests) keep none of the source's referrers, as copy does. */
  noticeConverted(pair: RepositoryPair): void {
    if (this.convertedNoticed || pair.rule.referrers === false) return;
    this.convertedNoticed = true;
    this.emit({
      type: "notice",
      message: "converted images get new digests: the source's referrers (signatures, attestations) name the old ones and are not attached",
    });
  }

  /** Mirror archives (oci-archive:FILE) the rules read or write, staged for the run. */
  readonly archives = new Map<string, MirrorArchive>();
  readonly pruneSkipped: PruneSkip[] = [];
  readonly blobs: BlobCounts = { copied: 0, skipped: 0, mounted: 0 };
  bytes = 0;
  /** Some rule prunes: the summary then reports prunes. */
  rulesPrune = false;
  /** The signature policies the run's, registries' and rules' `verify` name, loaded before anything is read. */
  readonly policies = new Map<TrustFlags, SignaturePolicy>();

  constructor(readonly opts: SyncOptions) {
    this.signal = opts.signal ? AbortSignal.any([this.controller.signal, opts.signal]) : this.controller.signal;
    const jobs = opts.jobs ?? DEFAULT_SYNC_JOBS;
    this.repos = createLimiter(jobs, this.signal);
    this.images = createLimiter(jobs, this.signal);
    this.requests = createLimiter(Math.max(8, jobs * 2), this.signal);
    // One blob window for the whole run, not one per image: `jobs` images each with a copy's own
    // window put up to 64 uploads in flight to one registry, more than a rate-limited one accepts.
    this.limits = transferLimits(undefined, this.signal, SYNC_BLOBS_IN_FLIGHT);
    const none = (): TransportOptions => ({});
    this.sources = new RepositoryFactory(withRegistrySettings(opts.sourceOptions ?? none, opts.registries));
    this.destinations = new RepositoryFactory(withRegistrySettings(opts.destinationOptions ?? none, opts.registries));
  }

  /** Loads every policy the run may need, so a bad key file or policy is a usage error before the first request. */
  async loadPolicies(rules: readonly SyncRule[]): Promise<void> {
    const all = [this.opts.verify, ...[...(this.opts.registries?.values() ?? [])].map((r) => r.verify), ...rules.map((r) => r.verify)];
    for (const flags of all) if (flags && !this.policies.has(flags)) this.policies.set(flags, await policyFromFlags(flags));
  }

  /** The gate of an image of `rule` read from `src`: the rule's, else its registry's, else the run's (none: no gate). */
  policyFor(rule: SyncRule, src: Repository): SignaturePolicy | undefined {
    const loc = src.location;
    const flags =
      rule.verify ?? (loc.transport === "docker" ? this.opts.registries?.get(loc.ref.domain)?.verify : undefined) ?? this.opts.verify;
    return flags ? this.policies.get(flags) : undefined;
  }

  emit(e: SyncEvent): void {
    this.opts.onEvent?.(e);
  }

  /** True when an error only says the run was stopped (fail-fast), so the item is not reported. */
  stopped(err: unknown): boolean {
    return (
      this.signal.aborted &&
      this.signal.reason instanceof FailFastStop &&
      (err instanceof FailFastStop || err instanceof InterruptedError || isAbortError(err))
    );
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

  /** A repository of a registry, layout or mirror archive. */
  async open(factory: RepositoryFactory, loc: Location): Promise<Repository> {
    if (loc.transport !== "oci-archive") return factory.open(loc);
    const archive = this.archives.get(loc.path)!;
    return new ArchiveRepository(loc, archive, await factory.open({ transport: "oci", path: archive.layoutPath }));
  }

  recordPrune(item: PruneItem): void {
    this.pruneItems.push(item);
    if (item.outcome === "failed") this.failed();
    this.emit({ type: "prune", item });
  }

  skip(item: SkippedItem): void {
    this.skipped.push(item);
    this.emit({ type: "skipped", item });
  }

  skipPrune(skip: PruneSkip): void {
    this.pruneSkipped.push(skip);
    this.emit({ type: "prune-skipped", skip });
  }

  add(summary: CopySummary): void {
    this.blobs.copied += summary.blobs.copied;
    this.blobs.skipped += summary.blobs.skipped;
    this.blobs.mounted += summary.blobs.mounted;
    this.bytes += summary.bytes;
  }

  /** The copy primitive: one engine run, bounded by `images`, into a destination that shares mounts; `gate` may refuse it once it has its turn. */
  transfer(platforms: readonly Platform[] = [], gate?: (src: Repository) => void, beforeTag?: BeforeTag): Transfer {
    return (src, dst, from, to) =>
      this.images(async () => {
        gate?.(src);
        const source = await src.openSource(from);
        try {
          const destination = this.ledger.wrap(await dst.openDestination(to));
          const summary = await copyImage(source, destination, {
            signal: this.signal,
            limits: this.limits,
            ...defined({ onProgress: this.opts.onProgress }),
            ...(platforms.length > 0 ? { platforms: [...platforms] } : {}),
            ...conversionOf(this.opts),
            ...defined({ beforeTag }),
          });
          this.add(summary);
          return summary;
        } finally {
          await source.close();
        }
      });
  }
}

/**
 * Refuses a pull from a registry whose last RateLimit-Remaining is at or
 * below its `min-remaining`. Asked when the image has its turn to copy, so the
 * figure is as fresh as the last answer (Docker Hub sends it on manifest GETs).
 */
function checkFloor(run: SyncRun, src: Repository): void {
  const loc = src.location;
  if (loc.transport !== "docker") return;
  const floor = run.opts.registries?.get(loc.ref.domain)?.minRemaining;
  const remaining = floor === undefined ? undefined : lastRateLimit(loc.ref.domain)?.remaining;
  if (floor !== undefined && remaining !== undefined && remaining <= floor) {
    throw new RateLimitFloor(`${loc.ref.domain} has ${remaining} requests left (RateLimit-Remaining), at or below min-remaining ${floor}`);
  }
}

/** The digest the destination would get for a platform subset: read the source's index and select, as the engine will. */
async function subsetDigest(src: Repository, tag: string, platforms: readonly Platform[], signal: AbortSignal): Promise<string> {
  const raw = await src.getManifest(tag, { signal });
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
    const signal = { signal: run.signal };
    const [sh, dh] = await Promise.all([run.requests(() => src.resolve(tag, signal)), run.requests(() => dst.resolve(tag, signal))]);
    if (!sh) throw new NotFoundError(`tag ${tag} not found in ${src.display}`, { where: base.source });
    // A platform subset is a new index with its own digest: compare with that one.
    const wanted = platforms.length > 0 ? await run.requests(() => subsetDigest(src, tag, platforms, run.signal)) : sh.digest.toString();
    const subject: Subject | undefined = wanted === sh.digest.toString() ? { digest: sh.digest, mediaType: sh.mediaType } : undefined;
    if (dh?.digest.toString() === wanted) {
      // Re-signing: an image mirrored before (or under another key) is signed where it is, once.
      const signed = run.opts.sign && !run.opts.dryRun ? await signUnlessSigned(dst, dh.digest, run.opts.sign, run.signal) : [];
      run.record({ ...base, digest: wanted, outcome: "up-to-date", ...(signed.length > 0 ? { signatures: signed } : {}) });
      return subject;
    }
    // The gate, before any blob moves (and in a dry run, to show what would be refused): manifests and signature blobs only.
    const policy = run.policyFor(pair.rule, src);
    if (policy) {
      const v = await run.requests(() =>
        verifyImage(src.at({ tag }), {
          policy,
          transport: run.sources.options(src.location),
          signal: run.signal,
          repository: { repo: src, ref: tag },
        }),
      );
      if (v.digest !== sh.digest.toString())
        throw new RegistryError(`tag ${tag} of ${src.display} moved while it was verified`, { where: base.source });
      if (!v.satisfied) {
        run.record({
          ...base,
          digest: v.digest,
          outcome: "refused",
          error: { code: "E_SIGNATURE_REFUSED", message: v.reason ?? "no accepted signature" },
        });
        return undefined;
      }
    }
    if (run.opts.dryRun) {
      run.record({ ...base, digest: wanted, outcome: "planned" });
      if (Object.keys(conversionOf(run.opts)).length > 0) {
        run.noticeConverted(pair);
        return undefined;
      }
      return subject;
    }
    // Re-signing: the signature is written once the image is whole at the destination, before the tag names it.
    let signatures: SignatureWritten[] | undefined;
    const sign = run.opts.sign ? resignHook(dst, run.opts.sign, run.signal, (_, written) => (signatures = written)) : undefined;
    const summary = await run.transfer(platforms, (s) => checkFloor(run, s), sign)(src, dst, { tag, digest: sh.digest }, { tag });
    if (!signatures && summary.upToDate && run.opts.sign) {
      const signed = await signUnlessSigned(dst, Digest.parse(summary.digest), run.opts.sign, run.signal);
      if (signed.length > 0) signatures = signed;
    }
    if (signatures) base.signatures = signatures;
    // Copy's rule: a converted image has a new digest, and the source's referrers name the old one; they are not attached.
    if (summary.convertedFrom !== undefined) {
      run.noticeConverted(pair);
      const outcome = summary.upToDate ? "up-to-date" : "copied";
      run.record({ ...base, digest: summary.digest, outcome, blobs: summary.blobs, bytes: summary.bytes });
      return undefined;
    }
    run.record({
      ...base,
      digest: summary.digest,
      outcome: summary.upToDate ? "up-to-date" : "copied",
      blobs: summary.blobs,
      bytes: summary.bytes,
    });
    return subject;
  } catch (err) {
    if (err instanceof RateLimitFloor) run.skip({ source: base.source, destination: base.destination, tag, reason: err.message });
    else if (!run.stopped(err)) run.record({ ...base, error: itemError(err) });
    return undefined;
  }
}

/** The filter's description when it narrowed a non-empty tag list to nothing (a typo in a range should not pass silently). */
function unmatchedFilter(all: readonly string[], taken: number, f: TagFilter): string | undefined {
  return taken === 0 && all.length > 0 && (f.names ?? []).length === 0 ? describeNarrowing(f) : undefined;
}

/** The destination's tags; a repository or layout that does not exist yet has none. */
async function destinationTags(run: SyncRun, dst: Repository): Promise<string[]> {
  try {
    return await run.requests(() => dst.listTags({ signal: run.signal }));
  } catch (err) {
    if (err instanceof NotFoundError) return [];
    throw err;
  }
}

/** Removes (or, in a dry run, lists) the destination tags the source no longer has, one at a time. */
async function pruneRepository(
  run: SyncRun,
  pair: RepositoryPair,
  dst: Repository,
  destTags: readonly string[],
  srcTags: readonly string[],
): Promise<void> {
  const gone = pruneCandidates(destTags, srcTags, pair.rule.tags, (t) => inShard(run.opts.shard, pair.name, t));
  if (gone.length > 0 && !run.opts.dryRun) await dst.prepare();
  for (const tag of gone) {
    const destination = `${dst.display}:${tag}`;
    if (run.opts.dryRun) {
      run.recordPrune({ destination, tag, outcome: "planned" });
      continue;
    }
    try {
      const digest = await run.requests(() => dst.removeTag(tag, { signal: run.signal }));
      run.recordPrune({ destination, tag, ...(digest ? { digest: digest.toString() } : {}), outcome: "pruned" });
    } catch (err) {
      if (!run.stopped(err)) run.recordPrune(pruneFailure(destination, tag, err));
    }
  }
}

/** True when anything of this destination repository failed or was skipped in this run (then it is not pruned). */
function repositoryFailed(run: SyncRun, dst: Repository): boolean {
  const inRepo = (where: string): boolean =>
    where.startsWith(`${dst.display}:`) || where.startsWith(`${dst.display}@`) || where === dst.display;
  return (
    run.items.some((i) => i.outcome === "failed" && inRepo(i.destination)) ||
    run.skipped.some((i) => inRepo(i.destination)) ||
    run.referrerItems.some((r) => r.outcome === "failed" && r.destination === dst.display)
  );
}

/**
 * A sharded run adopts no referrers of another shard's images: they travel
 * with their subject. The other shards' tags are resolved (one HEAD each at
 * the source) only when a leftover referrer tag asks, once per repository.
 */
function notOtherShards(run: SyncRun, src: Repository, otherTags: readonly string[]): (subject: Digest) => Promise<boolean> {
  let theirs: Promise<Set<string>> | undefined;
  const resolveAll = async (): Promise<Set<string>> => {
    const heads = await Promise.all(otherTags.map((t) => run.requests(() => src.resolve(t, { signal: run.signal }))));
    return new Set(heads.flatMap((h) => (h ? [h.digest.toString()] : [])));
  };
  return async (subject) => !(await (theirs ??= resolveAll())).has(subject.toString());
}

/** One repository's two sides, opened for the run. */
interface RepositoryRun {
  run: SyncRun;
  pair: RepositoryPair;
  src: Repository;
  dst: Repository;
}

/** The source's tags and, for skip-existing and prune, the destination's; undefined when a listing failed (reported). */
async function listSides(r: RepositoryRun): Promise<{ tags: string[]; destTags: ReadonlySet<string> } | undefined> {
  const { run, pair, src, dst } = r;
  const report = (err: unknown, why?: string): undefined => {
    if (run.stopped(err)) return undefined;
    run.recordRepository({ source: src.display, destination: dst.display, error: itemError(err) });
    if (why && pair.rule.prune) run.skipPrune({ source: src.display, destination: dst.display, reason: why });
    return undefined;
  };
  let tags: string[];
  try {
    tags = await run.requests(() => src.listTags({ signal: run.signal }));
  } catch (err) {
    return report(err, "the source's tag list failed");
  }
  try {
    const needed = pair.rule.skipExisting || pair.rule.prune;
    return { tags, destTags: new Set(needed ? await destinationTags(run, dst) : []) };
  } catch (err) {
    return report(err);
  }
}

/** Referrers of the images this run took (with a shard: not those of another shard's images). */
async function syncReferrers(
  r: RepositoryRun,
  srcTags: readonly string[],
  subjects: readonly Subject[],
  otherShards: readonly string[],
): Promise<void> {
  const { run, src, dst } = r;
  if (r.pair.rule.referrers === false || subjects.length === 0 || run.signal.aborted) return;
  await copyReferrers(
    {
      src,
      dst,
      srcTags,
      transfer: run.transfer(),
      requests: run.requests,
      signal: run.signal,
      ...(run.opts.dryRun ? { dryRun: true } : {}),
      onResult: (res) => run.recordReferrer({ ...res, source: src.display, destination: dst.display }),
      ...(run.opts.shard ? { adopt: notOtherShards(run, src, otherShards) } : {}),
    },
    subjects,
  );
}

/** Prunes once the repository synced cleanly from a source that listed something; says why not otherwise. */
async function pruneIfSafe(r: RepositoryRun, srcTags: readonly string[], destTags: ReadonlySet<string>): Promise<void> {
  const { run, pair, src, dst } = r;
  if (!pair.rule.prune || run.signal.aborted) return;
  const skip = (reason: string): void => run.skipPrune({ source: src.display, destination: dst.display, reason });
  // An empty listing is more often a registry that hides tags than a source that deleted everything.
  if (srcTags.length === 0) return skip("the source lists no tags");
  if (repositoryFailed(run, dst)) return skip("something in it failed to sync or was skipped");
  await pruneRepository(run, pair, dst, [...destTags], srcTags);
}

async function syncRepository(run: SyncRun, pair: RepositoryPair): Promise<void> {
  const r: RepositoryRun = {
    run,
    pair,
    src: await run.open(run.sources, pair.source),
    dst: await run.open(run.destinations, pair.destination),
  };
  const {
    src,
    dst,
    pair: { rule },
  } = r;
  const listed = await listSides(r);
  if (!listed) return;
  const { tags, destTags } = listed;
  const mine = (tag: string): boolean => inShard(run.opts.shard, pair.name, tag);
  const selection = selectTags(tags, rule.tags);
  const wanted = selection.tags.filter(mine);
  // Skip-existing: the destination's tag list is the answer; the source is not asked about these tags.
  const existing = new Set(rule.skipExisting ? wanted.filter((t) => destTags.has(t)) : []);
  const todo = wanted.filter((t) => !existing.has(t));
  if (todo.length > 0 && !run.opts.dryRun) {
    try {
      await dst.prepare();
    } catch (err) {
      if (!run.stopped(err)) run.recordRepository({ source: src.display, destination: dst.display, error: itemError(err) });
      return;
    }
  }
  try {
    const unmatched = unmatchedFilter(tags, selection.tags.length, rule.tags ?? {});
    run.emit({
      type: "repository",
      source: src.display,
      destination: dst.display,
      tags: wanted.length,
      ...(unmatched ? { unmatched } : {}),
    });
    for (const tag of selection.missing.filter(mine)) {
      run.record({
        source: `${src.display}:${tag}`,
        destination: `${dst.display}:${tag}`,
        tag,
        outcome: "failed",
        error: { code: "E_NOT_FOUND", message: `tag ${tag} not found in ${src.display}` },
      });
    }
    for (const tag of existing)
      run.record({ source: `${src.display}:${tag}`, destination: `${dst.display}:${tag}`, tag, outcome: "up-to-date", existing: true });
    const subjects = (await Promise.all(todo.map((tag) => syncImage(run, pair, src, dst, tag)))).filter(
      (s): s is Subject => s !== undefined,
    );
    await syncReferrers(
      r,
      tags,
      subjects,
      selection.tags.filter((t) => !mine(t)),
    );
    await pruneIfSafe(r, tags, destTags);
  } finally {
    // A new layout folder that received no image goes again, as a failed copy's does (issue 27 item 28).
    await dst.undoPrepare?.().catch(() => undefined);
  }
}

/** Items in a stable order (source, destination, tag or digest), not the order they finished in: plans and JSON diff cleanly. */
function byPlace<T extends { source?: string; destination: string; tag?: string | undefined; digest?: string | undefined }>(
  items: readonly T[],
): T[] {
  const key = (i: T): string => `${i.source ?? ""}\u0000${i.destination}\u0000${i.tag ?? ""}\u0000${i.digest ?? ""}`;
  return [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

function summarize(run: SyncRun, repositories: number): SyncSummary {
  const items = byPlace(run.items);
  const referrerItems = byPlace(run.referrerItems);
  const pruneItems = byPlace(run.pruneItems);
  const images = counts();
  for (const i of items) tally(images, i.outcome);
  const referrers: OutcomeCounts = { copied: 0, upToDate: 0, failed: 0, planned: 0 };
  // The tag schema's index is bookkeeping: counted only when it failed (so the run fails).
  for (const r of referrerItems) if (r.kind !== "index-tag" || r.outcome === "failed") tally(referrers, r.outcome);
  const failures: SyncSummary["failures"] = [
    ...byPlace(run.repoFailures.map((f) => ({ ...f, destination: f.destination ?? "" }))).map((f) => ({
      source: f.source,
      ...(f.destination ? { destination: f.destination } : {}),
      ...f.error,
    })),
    ...items
      .filter((i) => i.outcome === "failed")
      .map((i) => ({ source: i.source, destination: i.destination, tag: i.tag, code: i.error!.code, message: i.error!.message })),
    ...referrerItems
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
  const pruned = { pruned: 0, planned: 0, failed: 0 };
  for (const p of pruneItems) pruned[p.outcome]++;
  failures.push(
    ...pruneItems
      .filter((p) => p.outcome === "failed")
      .map((p) => ({ source: p.destination, destination: p.destination, tag: p.tag, code: p.error!.code, message: p.error!.message })),
  );
  const pruneOn = run.rulesPrune;
  return {
    dryRun: run.opts.dryRun === true,
    ...(run.skipped.length > 0 ? { skipped: run.skipped } : {}),
    ...defined({ shard: run.opts.shard }),
    ...(pruneOn ? { prune: pruned, pruneItems, pruneSkipped: run.pruneSkipped } : {}),
    repositories,
    failedRepositories: run.repoFailures.length,
    images,
    referrers,
    blobs: { ...run.blobs },
    bytes: run.bytes,
    seconds: run.elapsed(),
    failures,
    items,
    referrerItems,
    refused: items
      .filter((i) => i.outcome === "refused")
      .map((i) => ({
        source: i.source,
        destination: i.destination,
        tag: i.tag,
        ...(i.digest ? { digest: i.digest } : {}),
        message: i.error!.message,
      })),
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
  if (opts.shard) parseShard(formatShard(opts.shard)); // the library's caller gets the CLI's check
  const run = new SyncRun(opts);
  run.rulesPrune = rules.some((r) => r.prune === true);
  await run.loadPolicies(rules);
  try {
    await openArchives(run, rules);
    const expansion = await expandRules(rules, run.sources, run.archives, run.signal);
    for (const f of expansion.failures) run.recordRepository({ source: f.source, destination: f.destination, error: itemError(f.error) });
    await Promise.all(
      expansion.pairs.map((pair) =>
        run
          .repos(() => syncRepository(run, pair))
          .catch((err: unknown) => {
            if (!run.stopped(err) && !(err instanceof InterruptedError)) {
              run.recordRepository({
                source: formatLocation(pair.source),
                destination: formatLocation(pair.destination),
                error: itemError(err),
              });
            }
          }),
      ),
    );
    if (opts.signal?.aborted) throw new InterruptedError();
    if (!opts.dryRun)
      for (const a of run.archives.values())
        await a.publish(run.opts.destinationOptions?.({ transport: "oci-archive", path: a.file }) ?? {});
    const summary = summarize(run, expansion.pairs.length);
    run.emit({ type: "done", summary });
    return summary;
  } finally {
    await Promise.all([...run.archives.values()].map((a) => a.close()));
  }
}

/** Stages every mirror archive the rules name (a second sync into one adds to what it holds). */
async function openArchives(run: SyncRun, rules: readonly SyncRule[]): Promise<void> {
  const files = new Map<string, TransportOptions>();
  const destinations = new Set<string>();
  for (const r of rules) {
    if (r.source.kind === "archive")
      files.set(r.source.path, run.opts.sourceOptions?.({ transport: "oci-archive", path: r.source.path }) ?? {});
    const d = r.destination.location;
    if (d.transport === "oci-archive") {
      files.set(d.path, run.opts.destinationOptions?.(d) ?? {});
      destinations.add(d.path);
    }
  }
  for (const [file, options] of files) {
    // A source archive that is not there is not staged: its rule then finds it missing (expandRules), exit 3.
    if (!destinations.has(file) && !(await isFile(file))) continue;
    run.archives.set(file, await MirrorArchive.open(file, options, destinations.has(file)));
  }
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (st) => !st.isDirectory(),
    () => false,
  );
}
