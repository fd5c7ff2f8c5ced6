// What refers to an image, as a tree: the referrers API, the tag schema's
// `sha256-<hex>` index, and cosign's `sha256-<hex>.sig|.att|.sbom` tags,
// asked again for each referrer found (a signature of an SBOM), as far as
// `depth` says. The same three sources `copy --referrers` walks.
import { Digest } from "../oci/digest.js";
import { parseRawManifest, type Descriptor, type RawManifest } from "../oci/manifest.js";
import { formatLocation, type Location } from "../ref/location.js";
import { RepositoryFactory } from "../transport/repository.js";
import { ReferrerBudget, referrerTags } from "../transport/referrers.js";
import type { ReferrerFoundBy, Repository } from "../transport/types.js";
import { openSource } from "../transport/index.js";
import type { TransportOptions } from "../transport/types.js";
import { defined } from "../defined.js";

export interface ReferrerNode {
  digest: string;
  mediaType: string;
  /** The descriptor's or manifest's artifactType; for a cosign tag without one, its payload layer's media type. */
  artifactType?: string;
  size: number;
  annotations?: Record<string, string>;
  /** How it was found: the referrers API, the tag schema's index, a layout's index.json entry carrying the subject, or a cosign tag (named in `tag`). */
  source: "referrers-api" | "tag-schema" | "index-json" | "cosign-tag";
  tag?: string;
  /** The digest it refers to (with --artifact-type, not always the node above it in the tree). */
  subject: string;
  referrers: ReferrerNode[];
}

export interface ReferrersTree {
  subject: { location: string; digest: string; mediaType: string };
  referrers: ReferrerNode[];
}

export interface ReferrersOptions {
  /** Only referrers of this artifact type, at every level (what matches below a referrer left out is kept). */
  artifactType?: string;
  /** Levels of referrers: 1 lists the image's own (default: all). */
  depth?: number;
  transport?: TransportOptions;
  signal?: AbortSignal;
}

class TreeWalk {
  private readonly seen = new Set<string>();
  private readonly signal: { signal?: AbortSignal };
  /** Referrers found so far, against REFERRER_LIMITS; --depth N follows N levels, however many. */
  private readonly budget: ReferrerBudget;

  constructor(
    private readonly repo: Repository,
    private readonly tags: ReadonlySet<string>,
    private readonly opts: ReferrersOptions,
  ) {
    this.signal = opts.signal ? { signal: opts.signal } : {};
    this.budget = new ReferrerBudget(repo.display, { kind: "tree", depthGiven: opts.depth !== undefined });
  }

  /**
   * The referrers of `subject`, each with its own below it. With --artifact-type, a referrer of another type is
   * left out but what matches below it is kept, one level up (its `subject` still names what it refers to): a
   * signature of an SBOM is found when asking for signatures.
   */
  async children(subject: Digest, level: number): Promise<ReferrerNode[]> {
    if (level > (this.opts.depth ?? Infinity)) return [];
    const found = await this.repo.referrers(subject, { tags: this.tags, ...this.signal });
    // Without --depth, referrers past REFERRER_LIMITS.depth levels are refused (an endless chain a registry makes up).
    const refused = this.budget.take(subject, level, found.referrers.length);
    if (refused) throw refused;
    const nodes: ReferrerNode[] = [];
    for (const r of found.referrers) {
      if (this.seen.has(r.descriptor.digest.toString())) continue;
      this.seen.add(r.descriptor.digest.toString());
      const n =
        r.foundBy === "cosign-tag"
          ? await this.cosignNode(r.descriptor.digest, r.tag!, subject)
          : await this.complete(node(r.descriptor, SOURCE[r.foundBy], subject));
      const below = await this.children(Digest.parse(n.digest), level + 1);
      if (this.opts.artifactType !== undefined && n.artifactType !== this.opts.artifactType) nodes.push(...below);
      else nodes.push({ ...n, referrers: below });
    }
    return nodes;
  }

  /**
   * A tag-schema index written by a client may list a referrer without the annotations the referrers API copies
   * into each descriptor (the creation time among them), or without its artifactType (skopeo 1.9 re-pushes
   * indexes without it): both are read from the referrer's own manifest, the type as the OCI distribution spec
   * sets it (the manifest's artifactType, else its config's media type), never the manifest's own media type.
   */
  private async complete(n: ReferrerNode): Promise<ReferrerNode> {
    if (n.annotations && n.artifactType) return n;
    const raw = await this.repo.getManifest(Digest.parse(n.digest), this.signal);
    const parsed = parseRawManifest(raw, `${this.repo.display}@${n.digest}`);
    const artifactType = n.artifactType ?? parsed.artifactType ?? (parsed.kind === "manifest" ? parsed.config.mediaType : undefined);
    const annotations = n.annotations ?? parsed.annotations;
    return { ...n, ...(artifactType ? { artifactType } : {}), ...defined({ annotations }) };
  }

  /** A cosign tag's manifest, read whole: cosign writes no artifactType, so its payload layer's type says what it is. */
  private async cosignNode(digest: Digest, tag: string, subject: Digest): Promise<ReferrerNode> {
    const raw = await this.repo.getManifest(digest, this.signal);
    const parsed = parseRawManifest(raw, `${this.repo.display}:${tag}`);
    // cosign writes no artifactType; its payload layer's type says what it is (simplesigning, a DSSE envelope, an SBOM).
    const artifactType =
      parsed.artifactType ?? (parsed.kind === "manifest" ? (parsed.layers[0]?.mediaType ?? parsed.config.mediaType) : undefined);
    return {
      digest: raw.digest.toString(),
      mediaType: raw.mediaType,
      ...(artifactType ? { artifactType } : {}),
      size: raw.bytes.length,
      ...defined({ annotations: parsed.annotations }),
      source: "cosign-tag",
      tag,
      subject: subject.toString(),
      referrers: [],
    };
  }
}

/** The tree's words for how a referrer was found (`referrers-api` is in the JSON output: kept). */
const SOURCE: Record<ReferrerFoundBy, ReferrerNode["source"]> = {
  api: "referrers-api",
  "index-json": "index-json",
  "tag-schema": "tag-schema",
  "cosign-tag": "cosign-tag",
};

function node(d: Descriptor, source: ReferrerNode["source"], subject: Digest): ReferrerNode {
  return {
    digest: d.digest.toString(),
    mediaType: d.mediaType,
    ...(d.artifactType ? { artifactType: d.artifactType } : {}),
    size: d.size,
    ...defined({ annotations: d.annotations }),
    source,
    subject: subject.toString(),
    referrers: [],
  };
}

/**
 * The referrers of the image `loc` names, recursively. Registries, OCI
 * layouts and oci-archives. A repository without tags, or a
 * registry without the referrers API, simply contributes nothing from that
 * source.
 */
export async function referrersTree(loc: Location, opts: ReferrersOptions = {}): Promise<ReferrersTree> {
  const transport = opts.transport ?? {};
  const source = await openSource(loc, transport);
  let top: RawManifest;
  try {
    top = await source.getManifest(undefined, opts.signal ? { signal: opts.signal } : {});
  } finally {
    await source.close();
  }
  // An archive is read in place (nothing unpacked).
  const staged = await new RepositoryFactory(() => transport).openStaged(loc, { readOnly: true });
  try {
    const repo = staged.repo;
    const tags = await referrerTags(repo, opts.signal ? { signal: opts.signal } : {});
    const walk = new TreeWalk(repo, new Set(tags), opts);
    return {
      subject: { location: formatLocation(loc), digest: top.digest.toString(), mediaType: top.mediaType },
      referrers: await walk.children(top.digest, 1),
    };
  } finally {
    await staged.close();
  }
}
