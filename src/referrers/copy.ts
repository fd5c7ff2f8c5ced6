/**
 * Copies what refers to an image along with it: the manifests the referrers
 * API or the tag schema's `sha256-<hex>` index lists, and cosign's
 * `sha256-<hex>.sig|.att|.sbom` tags; recursively (a signature of an SBOM
 * comes too), every manifest under its own digest.
 *
 * The destination gets the form it supports: a store with the referrers API
 * indexes a pushed manifest's `subject` itself; any other (distribution 2.8,
 * an OCI layout) gets the tag schema, its `sha256-<hex>` index updated to
 * list what it had plus what arrived (never dropping a referrer it already
 * listed). When nothing changed, the index keeps the source's bytes.
 *
 * Cheap when there is nothing to do: a referrer tag whose digest is the same
 * on both sides is done after one HEAD a side, and the source's tag list
 * (which sync has anyway) says which referrer tags exist at all.
 */
import { type IntegrityError, itemError, NotFoundError, RegistryError, type ItemError } from "../errors.js";
import type { Digest } from "../oci/digest.js";
import { parseManifest, rawManifestFromDocument, descriptorToJSON, type Descriptor, type RawManifest } from "../oci/manifest.js";
import { MediaType } from "../oci/mediatype.js";
import type { CopySummary } from "../copy/types.js";
import { groupReferrerTags, referrersTag, type ReferrerTag } from "../oci/referrer-tags.js";
import type { Referrer, ReferrerList, Repository, RepoRef, SignalOption, TagHead } from "../transport/types.js";
import { ReferrerBudget, referrerTags } from "../transport/referrers.js";
import { INDEX_CONFIRM, writeUntilListed } from "./read-back.js";
import { defined } from "../defined.js";

export type ItemOutcome = "copied" | "up-to-date" | "failed" | "planned";

export interface ReferrerResult {
  /** The digest the referrer refers to. */
  subject: string;
  /**
   * `cosign-tag`: a `sha256-<hex>.sig|.att|.sbom` tag; `manifest`: a manifest
   * listed by the referrers API or the tag schema's index, copied by digest;
   * `index-tag`: the tag schema's `sha256-<hex>` index at the destination;
   * `list`: the subject's list of referrers (the referrers API's answer, a
   * layout's index.json entries), reported only when reading it failed or
   * was refused: no referrer is known by name then.
   */
  kind: "cosign-tag" | "manifest" | "index-tag" | "list";
  tag?: string;
  digest?: string;
  artifactType?: string;
  outcome: ItemOutcome;
  error?: ItemError;
  /** The engine's summary when something was copied. */
  copy?: CopySummary;
}

/** Copies `from` in `src` to `to` in `dst` with the copy engine (sync passes one that shares mounts and limits). */
export type Transfer = (src: Repository, dst: Repository, from: RepoRef, to: RepoRef) => Promise<CopySummary>;

/** An image whose referrers are wanted. */
export interface Subject {
  digest: Digest;
  mediaType?: string;
}

export interface ReferrerCopyContext {
  src: Repository;
  dst: Repository;
  /** The source's tags when already listed (sync); listed here otherwise. */
  srcTags?: readonly string[];
  transfer: Transfer;
  /** Bounds the HEADs and small reads (default: unbounded; the transfers are bounded by `transfer`). */
  requests?: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Find and compare, but copy and write nothing: every needed copy is reported `planned`. */
  dryRun?: boolean;
  onResult?: (r: ReferrerResult) => void;
  /** The run's signal: aborting it abandons the requests in flight. */
  signal?: AbortSignal;
  /** Whether a leftover subject the destination holds may be adopted (sync --shard: not another shard's image); default yes. */
  adopt?: (subject: Digest) => Promise<boolean>;
}

function descriptorsOf(raw: RawManifest, where: string): Descriptor[] {
  const parsed = parseManifest(raw.bytes, raw.mediaType, where);
  return parsed.kind === "index" ? parsed.manifests : [];
}

/** `a` then what of `b` is new, by digest. */
function unionByDigest(a: readonly Descriptor[], b: readonly Descriptor[]): Descriptor[] {
  const seen = new Set(a.map((d) => d.digest.toString()));
  const out = [...a];
  for (const d of b) {
    if (seen.has(d.digest.toString())) continue;
    seen.add(d.digest.toString());
    out.push(d);
  }
  return out;
}

function sameDigests(a: readonly Descriptor[], b: readonly Descriptor[]): boolean {
  const set = new Set(a.map((d) => d.digest.toString()));
  return a.length === b.length && b.every((d) => set.has(d.digest.toString()));
}

/** The tag schema's index as dray writes it when it cannot keep the source's bytes. */
export function buildReferrersIndex(descs: readonly Descriptor[]): RawManifest {
  return rawManifestFromDocument(
    { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: descs.map(descriptorToJSON) },
    MediaType.OciIndex,
  );
}

/** One run of referrer copying over a set of subjects: a work list that grows as referrers arrive. */
class ReferrerWalk {
  private readonly results: ReferrerResult[] = [];
  private readonly seen = new Set<string>();
  private readonly queue: Subject[] = [];
  private readonly request: <T>(fn: () => Promise<T>) => Promise<T>;
  private readonly signal: SignalOption;
  /** How many levels below an image taken each subject is (0: the image; a leftover counts as one). */
  private readonly levels = new Map<string, number>();
  /** Referrers found so far, against the run's cap (REFERRER_LIMITS). */
  private readonly budget: ReferrerBudget;

  constructor(
    private readonly ctx: ReferrerCopyContext,
    private readonly groups: Map<string, ReferrerTag[]>,
    private readonly tags: ReadonlySet<string>,
    images: number,
  ) {
    this.budget = new ReferrerBudget(ctx.src.display, { kind: "copy", images });
    this.request = ctx.requests ?? ((fn) => fn());
    this.signal = ctx.signal ? { signal: ctx.signal } : {};
  }

  async run(subjects: readonly Subject[]): Promise<ReferrerResult[]> {
    for (const s of subjects) this.levels.set(s.digest.toString(), 0);
    this.queue.push(...subjects);
    for (;;) {
      // Past the run's cap nothing more is asked (its one line says so); `seen` ends a cycle.
      const wave = this.budget.spent ? [] : this.queue.splice(0).filter((s) => this.visit(s.digest));
      if (wave.length > 0) {
        await Promise.all(wave.map((s) => this.subject(s)));
        continue;
      }
      if (this.budget.spent || !(await this.adoptLeftovers())) break;
    }
    return this.results;
  }

  /** `referrer`, found as a referrer of `of`: one level below it, and a subject to ask about in turn. */
  private enqueue(referrer: Subject, of: Subject): void {
    const key = referrer.digest.toString();
    if (!this.levels.has(key)) this.levels.set(key, (this.levels.get(of.digest.toString()) ?? 1) + 1);
    this.queue.push(referrer);
  }

  /**
   * Why the referrers found for `s` are not taken: they are more than REFERRER_LIMITS.depth levels below its
   * image, or they bring the run past its cap (then nothing more is asked). Undefined when they are taken.
   */
  private overCap(s: Subject, count: number): IntegrityError | undefined {
    return this.budget.take(s.digest, (this.levels.get(s.digest.toString()) ?? 1) + 1, count);
  }

  private visit(digest: Digest): boolean {
    const key = digest.toString();
    if (this.seen.has(key)) return false;
    this.seen.add(key);
    return true;
  }

  /**
   * Referrer tags whose subject is none of the images taken: the subject may
   * be a platform image of a taken index, or a referrer listed in an index
   * that was already up to date, or an image this sync does not take. The
   * destination decides, with one HEAD a subject: what it holds gets its
   * referrers (whoever copied it there), anything else is left out.
   */
  private async adoptLeftovers(): Promise<boolean> {
    const leftovers = [...this.groups.values()].map((g) => g[0]!.subject).filter((d) => this.visit(d));
    if (leftovers.length === 0) return false;
    const adopt = this.ctx.adopt ?? (async () => true);
    const held = await Promise.all(
      leftovers.map(
        async (d) => (await this.request(() => this.ctx.dst.hasManifest(d, this.signal)).catch(() => false)) && (await adopt(d)),
      ),
    );
    leftovers.forEach((d, i) => {
      if (held[i]) {
        this.seen.delete(d.toString());
        this.queue.push({ digest: d });
      }
    });
    return this.queue.length > 0;
  }

  private report(r: ReferrerResult): void {
    this.results.push(r);
    this.ctx.onResult?.(r);
  }

  private async subject(s: Subject): Promise<void> {
    const { src, dst } = this.ctx;
    const subject = s.digest.toString();
    const indexResult: ReferrerResult = { subject, kind: "index-tag", tag: referrersTag(s.digest), outcome: "failed" };
    const signal = this.signal;
    // What the destination says about the subject's fallback index, asked once and only when needed.
    let dstState: Promise<{ api: boolean; head: TagHead | undefined }> | undefined;
    const destination = (): Promise<{ api: boolean; head: TagHead | undefined }> =>
      (dstState ??= (async () => {
        const api = await dst.hasReferrersApi(s.digest, signal);
        return { api, head: api ? undefined : await dst.resolve(referrersTag(s.digest), signal) };
      })());
    let indexFailed = false;
    let found: ReferrerList | undefined;
    try {
      // A wave's subjects wait their turn for a request: once the cap is spent, the rest are not asked (its one line says so).
      found = await this.request(async () =>
        this.budget.spent
          ? undefined
          : src.referrers(s.digest, {
              tags: this.tags,
              ...signal,
              // Same index on both sides: every manifest it lists arrived before it was written.
              skipIndex: async (sh) => (await destination()).head?.digest.equals(sh.digest) === true,
              onError: (err, foundBy, tag) => {
                if (foundBy === "tag-schema") indexFailed = true;
                const kind = foundBy === "tag-schema" ? "index-tag" : foundBy === "cosign-tag" ? "cosign-tag" : "list";
                this.report({ subject, kind, ...defined({ tag }), outcome: "failed", error: itemError(err) });
              },
            }),
      );
    } catch (err) {
      // The list as a whole refused (more referrers than one image may have): one line for it, the walk goes on.
      return this.report({ subject, kind: "list", outcome: "failed", error: itemError(err) });
    }
    if (!found) return;
    const spent = this.budget.spent;
    const refused = this.overCap(s, found.referrers.length);
    // The run's cap is one failure, said once: the lists that arrive after it are dropped, not each reported.
    if (refused) return spent ? undefined : this.report({ subject, kind: "list", outcome: "failed", error: itemError(refused) });
    const cosign = found.referrers.filter((r) => r.foundBy === "cosign-tag");
    const listed = found.referrers.filter((r) => r.foundBy !== "cosign-tag").map((r) => r.descriptor);
    const work = cosign.map((r) => this.cosignTag(s, r));
    if (!indexFailed && (listed.length > 0 || found.index)) work.push(this.listed(s, listed, found.index, indexResult, destination));
    await Promise.all(work);
  }

  /** A cosign tag travels as a tag, compared by one HEAD a side. */
  private async cosignTag(s: Subject, r: Referrer): Promise<void> {
    const tag = r.tag!;
    const sh = r.descriptor;
    const digest = sh.digest.toString();
    const base: ReferrerResult = { subject: s.digest.toString(), kind: "cosign-tag", tag, outcome: "failed" };
    this.enqueue({ digest: sh.digest, mediaType: sh.mediaType }, s);
    try {
      const dh = await this.request(() => this.ctx.dst.resolve(tag, this.signal));
      if (dh?.digest.equals(sh.digest)) return this.report({ ...base, digest, outcome: "up-to-date" });
      if (this.ctx.dryRun) return this.report({ ...base, digest, outcome: "planned" });
      const copy = await this.ctx.transfer(this.ctx.src, this.ctx.dst, { tag, digest: sh.digest }, { tag });
      this.report({ ...base, digest, outcome: copy.upToDate ? "up-to-date" : "copied", copy });
    } catch (err) {
      this.report({ ...base, digest, error: itemError(err) });
    }
  }

  /** Manifests listed for `s` by the referrers API or the source's `sha256-<hex>` index, then the destination's index. */
  private async listed(
    s: Subject,
    listed: Descriptor[],
    index: ReferrerList["index"],
    indexResult: ReferrerResult,
    destination: () => Promise<{ api: boolean; head: TagHead | undefined }>,
  ): Promise<void> {
    const { src, dst } = this.ctx;
    let dh: TagHead | undefined;
    let dstApi: boolean;
    try {
      ({ api: dstApi, head: dh } = await destination());
    } catch (err) {
      return this.report({ ...indexResult, error: itemError(err) });
    }
    if (index && !index.manifest && listed.length === 0) {
      return this.report({ ...indexResult, digest: index.head.digest.toString(), outcome: "up-to-date" });
    }
    const srcDescs = index?.manifest ? descriptorsOf(index.manifest, `${src.display}:${indexResult.tag}`) : [];
    const arrived = await Promise.all(listed.map((d) => this.manifest(s, d)));
    // Asked again: a referrer's PUT answered with OCI-Subject says the destination indexed it (no fallback tag there).
    if (dstApi || (await dst.hasReferrersApi(s.digest, this.signal))) return;
    await this.updateFallback(
      s,
      indexResult,
      dh,
      index?.manifest,
      srcDescs,
      listed.filter((_, i) => arrived[i]),
    );
  }

  /** One listed referrer, copied under its own digest. True when it is (or would be) at the destination. */
  private async manifest(s: Subject, d: Descriptor): Promise<boolean> {
    this.enqueue({ digest: d.digest, mediaType: d.mediaType }, s);
    const base: ReferrerResult = {
      subject: s.digest.toString(),
      kind: "manifest",
      digest: d.digest.toString(),
      ...(d.artifactType ? { artifactType: d.artifactType } : {}),
      outcome: "failed",
    };
    try {
      // One HEAD settles a referrer that is already there (the engine would read the source's manifest first).
      if (await this.request(() => this.ctx.dst.hasManifest(d.digest, this.signal))) {
        this.report({ ...base, outcome: "up-to-date" });
        return true;
      }
      if (this.ctx.dryRun) {
        this.report({ ...base, outcome: "planned" });
        return true;
      }
      const copy = await this.ctx.transfer(this.ctx.src, this.ctx.dst, { digest: d.digest }, { digest: d.digest });
      this.report({ ...base, outcome: copy.upToDate ? "up-to-date" : "copied", copy });
      return true;
    } catch (err) {
      this.report({ ...base, error: itemError(err) });
      return false;
    }
  }

  /** The destination's `sha256-<hex>` index: what it listed, plus what arrived; the source's bytes when that is the same set. */
  private async updateFallback(
    s: Subject,
    base: ReferrerResult,
    dh: TagHead | undefined,
    srcIndex: RawManifest | undefined,
    srcDescs: Descriptor[],
    arrived: Descriptor[],
  ): Promise<void> {
    try {
      const r = await addToReferrersIndex(this.ctx.dst, s.digest, dh, arrived, {
        ...(srcIndex ? { keep: { raw: srcIndex, listed: srcDescs } } : {}),
        // Read back after the PUT, as attach and sign do: another copy, sync or attach of this image at the same time may have replaced it.
        ...(this.ctx.dryRun ? { dryRun: true } : { confirm: INDEX_CONFIRM }),
        request: this.request,
        ...this.signal,
      });
      if (r)
        this.report({ ...base, digest: r.digest.toString(), outcome: r.written ? (this.ctx.dryRun ? "planned" : "copied") : "up-to-date" });
    } catch (err) {
      this.report({ ...base, subject: s.digest.toString(), error: itemError(err) });
    }
  }
}

/**
 * Adds `arrived` to the tag schema's `sha256-<hex>` index of `subject` in
 * `dst` (whose tag names `head` now, or nothing): what it listed stays, what
 * is new is appended. `keep` (a source's index and what it lists) is written
 * byte for byte when the result lists the same manifests. Returns the index
 * the tag names afterwards and whether it was (or, dry, would be) written;
 * undefined when there is nothing to list. Every writer of referrers (copy,
 * sync, attach, sign) keeps the index this one way.
 *
 * The update is a read, then a PUT: two writers at once (two `dray attach`
 * of one image) can each PUT what it read plus its own, and the later drops
 * the earlier's entry. With `confirm`, the index is read back a moment after
 * the PUT and, while `arrived` is not all listed, merged and PUT again (at
 * most `attempts` more times; then E_REGISTRY naming what is missing).
 */
export async function addToReferrersIndex(
  dst: Repository,
  subject: Digest,
  head: TagHead | undefined,
  arrived: readonly Descriptor[],
  opts: SignalOption & {
    keep?: { raw: RawManifest; listed: readonly Descriptor[] };
    dryRun?: boolean;
    request?: <T>(fn: () => Promise<T>) => Promise<T>;
    confirm?: { delayMs: number; attempts: number };
  } = {},
): Promise<{ digest: Digest; written: boolean } | undefined> {
  const request = opts.request ?? ((fn) => fn());
  const signal: SignalOption = opts.signal ? { signal: opts.signal } : {};
  const tag = referrersTag(subject);
  /** What the tag names and lists; read again when another writer moved it between the two reads (a layout then forgets the old digest). */
  const read = async (h: TagHead | undefined): Promise<{ head: TagHead | undefined; listed: Descriptor[] }> => {
    for (let moved = 0; ; moved++) {
      if (!h) return { head: h, listed: [] };
      try {
        return { head: h, listed: descriptorsOf(await request(() => dst.getManifest(h!.digest, signal)), `${dst.display}:${tag}`) };
      } catch (err) {
        if (!(err instanceof NotFoundError) || moved >= 3) throw err;
        h = await request(() => dst.resolve(tag, signal));
      }
    }
  };
  if (arrived.length === 0 && !head) return undefined;
  let put: RawManifest | undefined;
  const { state, writes } = await writeUntilListed(
    {
      read: async (again) => read(again ? await request(() => dst.resolve(tag, signal)) : head),
      isListed: ({ head: h, listed }) => h !== undefined && arrived.every((d) => listed.some((l) => l.digest.equals(d.digest))),
      write: async ({ listed }) => {
        const merged = unionByDigest(listed, arrived);
        put = opts.keep && sameDigests(merged, opts.keep.listed) ? opts.keep.raw : buildReferrersIndex(merged);
        if (!opts.dryRun) await dst.putReferrersIndex(subject, put, signal);
      },
      lost: (times, { head: now, listed }) => {
        const missing = arrived.filter((d) => !listed.some((l) => l.digest.equals(d.digest)));
        const names = missing.map((d) => d.digest.toString()).join(", ");
        // No tag at all when read back is the destination's doing (a 404 after each PUT it accepted), not another writer's.
        return new RegistryError(
          now
            ? `${dst.display}:${tag}: another writer replaced the referrers index ${times} times; ${names} is not listed in it`
            : `${dst.display}:${tag}: the referrers index was written ${times} times but is not there when read back; ${names} is not listed`,
          { where: dst.display },
        );
      },
    },
    { ...signal, ...(opts.confirm && !opts.dryRun ? { confirm: opts.confirm } : {}) },
  );
  if (state?.head) return { digest: state.head.digest, written: writes > 0 };
  return put && { digest: put.digest, written: true };
}

/**
 * Copies the referrers of `subjects` (recursively) from `ctx.src` to
 * `ctx.dst`. Never throws for one referrer: each outcome, failures included,
 * is in the returned list (and passed to `onResult` as it happens).
 */
export async function copyReferrers(ctx: ReferrerCopyContext, subjects: readonly Subject[]): Promise<ReferrerResult[]> {
  // A tag list that answers 404 has no tags, as for `dray referrers`: the referrers API alone answers then.
  const tags = ctx.srcTags ?? (await referrerTags(ctx.src, ctx.signal ? { signal: ctx.signal } : {}));
  return new ReferrerWalk(ctx, groupReferrerTags(tags), new Set(tags), subjects.length).run(subjects);
}
