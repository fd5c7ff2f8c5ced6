/**
 * One referrers discovery for every repository (registry, layout, mirror
 * archive): the referrers API, the tag schema's `sha256-<hex>` index and
 * cosign's `sha256-<hex>.sig|.att|.sbom` tags, asked at once and merged.
 * The copy walk, the `dray referrers` tree and signature checks all read
 * referrers through Repository.referrers, which is this.
 */
import { IntegrityError, NotFoundError } from "../errors.js";
import type { Digest } from "../oci/digest.js";
import { parseManifest, type Descriptor, type RawManifest } from "../oci/manifest.js";
import { COSIGN_SUFFIXES, cosignTag, referrersTag } from "../oci/referrer-tags.js";
import type { Referrer, ReferrerFoundBy, ReferrerList, ReferrersOptions, SignalOption, TagHead } from "./types.js";

/**
 * Bounds on what referrers dray reads, for a registry (or an archive) that answers with a huge list or an
 * endless chain of referrers of referrers. A real image has a few, a level or two deep (a signature of an
 * SBOM of an image: 2). cosign reads at most 100 signatures or attestations of an image
 * (sigstore/cosign pkg/cosign/fetch.go, maxAllowedSigsOrAtts) and 1000 layers of a `.sig` manifest
 * (pkg/oci/remote/signatures.go, maxLayers); regclient's copy guards against loops only (image.go,
 * ErrLoopDetected). A list past `perSubject` is refused whole, as cosign does.
 */
export const REFERRER_LIMITS = {
  /** Referrers of one image, every way of finding them together. */
  perSubject: 1000,
  /** Levels of referrers of referrers followed (1: the image's own). */
  depth: 8,
  /** Referrers one walk (a copy, a repository of a sync, a tree) takes: this many, or `perImage` for each image it starts from. */
  perRun: 10_000,
  perImage: 64,
} as const;

/** The most referrers a walk from `images` images takes. */
export function referrersPerRun(images: number): number {
  return Math.max(REFERRER_LIMITS.perRun, REFERRER_LIMITS.perImage * images);
}

/**
 * One walk's spending of REFERRER_LIMITS: the referrers it found so far against its cap, and how deep. The
 * `dray referrers` tree (one image; `--depth N` follows N levels, however many) and the copy walk of copy and
 * sync (a cap for all its images) count alike and say why in their own words: the tree lists, the copy copies.
 */
export class ReferrerBudget {
  private found = 0;
  /** The most referrers this walk takes. */
  readonly max: number;
  /** True once a take went past `max`: nothing more is asked. */
  spent = false;

  constructor(
    private readonly where: string,
    private readonly walk: { kind: "tree"; depthGiven: boolean } | { kind: "copy"; images: number },
  ) {
    this.max = walk.kind === "tree" ? REFERRER_LIMITS.perRun : referrersPerRun(walk.images);
  }

  /** Takes the `count` referrers found for `subject`, `level` levels below the image (1: its own); the error refusing them, else undefined. */
  take(subject: Digest, level: number, count: number): IntegrityError | undefined {
    if (count === 0) return undefined;
    const where = this.where;
    const { depth, perRun, perImage } = REFERRER_LIMITS;
    const tree = this.walk.kind === "tree";
    if (level > depth && !(this.walk.kind === "tree" && this.walk.depthGiven))
      return new IntegrityError(
        tree
          ? `${where}: ${subject} has referrers ${level} levels below the image; dray follows ${depth} unless --depth N says more`
          : `${where}: ${subject} has referrers ${level} levels below the image; dray follows referrers of referrers ${depth} levels deep`,
        { code: "E_TOO_LARGE", where },
      );
    this.found += count;
    if (this.found <= this.max) return undefined;
    this.spent = true;
    return new IntegrityError(
      tree
        ? `${where}: more than ${this.max} referrers below one image; dray lists at most that many`
        : `${where}: more than ${this.max} referrers in one run (dray takes at most ${perRun}, or ${perImage} an image); the rest are not copied`,
      { code: "E_TOO_LARGE", where },
    );
  }
}

/** What discovery needs from a repository: its answers by tag and digest, and its referrers API (undefined: none). */
export interface ReferrerSources {
  readonly display: string;
  listTags(opts?: SignalOption): Promise<string[]>;
  resolve(tag: string, opts?: SignalOption): Promise<TagHead | undefined>;
  getManifest(ref: string | Digest, opts?: SignalOption): Promise<RawManifest>;
  referrersApi(subject: Digest, opts?: SignalOption): Promise<Descriptor[] | undefined>;
  /** The manifests the store names (a layout's index.json entries) whose `subject` is `subject`; none for a registry. */
  storedReferrers(subject: Digest, opts?: SignalOption): Promise<Descriptor[]>;
}

/** The manifests an index lists; none for anything else (a tag-schema tag that names an image lists nothing). */
function listedBy(raw: RawManifest, where: string): Descriptor[] {
  const parsed = parseManifest(raw.bytes, raw.mediaType, where);
  return parsed.kind === "index" ? parsed.manifests : [];
}

/**
 * The tags a referrer walk reads (the tag schema's `sha256-<hex>` indexes, cosign's tags): a tag list that answers
 * 404 (NAME_UNKNOWN: a repository some registries hold images in without listing tags, or none) has none, so the
 * referrers API alone answers. `dray referrers`, findReferrers and the copy walk of copy and sync all read it so.
 */
export async function referrerTags(repo: Pick<ReferrerSources, "listTags">, opts: SignalOption): Promise<string[]> {
  try {
    return await repo.listTags(opts);
  } catch (err) {
    if (err instanceof NotFoundError) return [];
    throw err;
  }
}

export async function findReferrers(repo: ReferrerSources, subject: Digest, opts: ReferrersOptions = {}): Promise<ReferrerList> {
  const signal: SignalOption = opts.signal ? { signal: opts.signal } : {};
  const tags = opts.tags ?? new Set(await referrerTags(repo, signal));
  /** One way of finding, its failure reported (and nothing found) when the caller wants the others to go on. */
  const attempt = async <T>(foundBy: ReferrerFoundBy, fallback: T, fn: () => Promise<T>, tag?: string): Promise<T> => {
    if (!opts.onError) return fn();
    try {
      return await fn();
    } catch (err) {
      opts.onError(err, foundBy, tag);
      return fallback;
    }
  };
  const indexTag = referrersTag(subject);
  // Looked up by name, not by parsing the tags: a sha512 subject's index tag is truncated (see referrersTag).
  const cosignTags = COSIGN_SUFFIXES.map((s) => cosignTag(subject, s))
    .filter((t) => tags.has(t))
    .sort();
  const [api, index, stored, cosign] = await Promise.all([
    attempt("api", [], async () => (await repo.referrersApi(subject, signal)) ?? []),
    tags.has(indexTag) ? attempt("tag-schema", undefined, () => readIndex(repo, indexTag, opts), indexTag) : undefined,
    attempt("index-json", [], () => repo.storedReferrers(subject, signal)),
    Promise.all(
      cosignTags.map((tag) =>
        attempt(
          "cosign-tag",
          undefined,
          async (): Promise<Referrer | undefined> => {
            const head = await repo.resolve(tag, signal);
            // Gone since the tags were listed: nothing to find.
            if (!head) return undefined;
            return { descriptor: { mediaType: head.mediaType, digest: head.digest, size: head.size }, foundBy: "cosign-tag", tag };
          },
          tag,
        ),
      ),
    ),
  ]);
  const referrers: Referrer[] = api.map((descriptor) => ({ descriptor, foundBy: "api" }));
  const seen = new Set(api.map((d) => d.digest.toString()));
  for (const descriptor of index?.listed ?? []) {
    if (seen.has(descriptor.digest.toString())) continue;
    seen.add(descriptor.digest.toString());
    referrers.push({ descriptor, foundBy: "tag-schema", tag: indexTag });
  }
  for (const descriptor of stored) {
    if (seen.has(descriptor.digest.toString())) continue;
    seen.add(descriptor.digest.toString());
    referrers.push({ descriptor, foundBy: "index-json" });
  }
  for (const c of cosign) if (c) referrers.push(c);
  if (referrers.length > REFERRER_LIMITS.perSubject)
    throw new IntegrityError(
      `${repo.display}: ${subject} has ${referrers.length} referrers, more than the ${REFERRER_LIMITS.perSubject} dray reads for one image`,
      { code: "E_TOO_LARGE", where: repo.display },
    );
  return { referrers, ...(index ? { index: index.found } : {}) };
}

/** The tag-schema index: what its tag names, its bytes and what it lists (unless the caller skips reading it). */
async function readIndex(
  repo: ReferrerSources,
  tag: string,
  opts: ReferrersOptions,
): Promise<{ found: NonNullable<ReferrerList["index"]>; listed: Descriptor[] } | undefined> {
  const signal: SignalOption = opts.signal ? { signal: opts.signal } : {};
  const head = await repo.resolve(tag, signal);
  if (!head) return undefined;
  if (await opts.skipIndex?.(head)) return { found: { head }, listed: [] };
  const manifest = await repo.getManifest(head.digest, signal);
  return { found: { head, manifest }, listed: listedBy(manifest, `${repo.display}:${tag}`) };
}
