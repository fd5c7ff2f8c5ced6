// What refers to an image, as a tree: the referrers API, the tag schema's
// `sha256-<hex>` index, and cosign's `sha256-<hex>.sig|.att|.sbom` tags,
// asked again for each referrer found (a signature of an SBOM), as far as
// `depth` says. The same three sources `copy --referrers` walks.
import { NotFoundError } from "../errors.js";
import { Digest } from "../oci/digest.js";
import { parseRawManifest, type Descriptor, type RawManifest } from "../oci/manifest.js";
import { formatLocation, type Location } from "../ref/location.js";
import { RepositoryFactory } from "../transport/repository.js";
import type { ReferrerFoundBy, Repository } from "../transport/types.js";
import { openSource } from "../transport/index.js";
import type { TransportOptions } from "../transport/types.js";

export interface ReferrerNode {
  digest: string;
  mediaType: string;
  /** The descriptor's or manifest's artifactType; for a cosign tag without one, its payload layer's media type. */
  artifactType?: string;
  size: number;
  annotations?: Record<string, string>;
  /** How it was found: the referrers API, the tag schema's index, or a cosign tag (named in `tag`). */
  source: "referrers-api" | "tag-schema" | "cosign-tag";
  tag?: string;
  referrers: ReferrerNode[];
}

export interface ReferrersTree {
  subject: { location: string; digest: string; mediaType: string };
  referrers: ReferrerNode[];
}

export interface ReferrersOptions {
  /** Only referrers of this artifact type (at every level; a node left out takes its own referrers with it). */
  artifactType?: string;
  /** Levels of referrers: 1 lists the image's own (default: all). */
  depth?: number;
  transport?: TransportOptions;
}

class TreeWalk {
  private readonly seen = new Set<string>();

  constructor(
    private readonly repo: Repository,
    private readonly tags: ReadonlySet<string>,
    private readonly opts: ReferrersOptions,
  ) {}

  async children(subject: Digest, level: number): Promise<ReferrerNode[]> {
    if (level > (this.opts.depth ?? Infinity)) return [];
    const found = await this.repo.referrers(subject, { tags: this.tags });
    const nodes: ReferrerNode[] = [];
    for (const r of found.referrers) {
      const n = r.foundBy === "cosign-tag" ? await this.cosignNode(r.descriptor.digest, r.tag!) : node(r.descriptor, SOURCE[r.foundBy]);
      if (this.seen.has(n.digest)) continue;
      this.seen.add(n.digest);
      if (this.opts.artifactType !== undefined && n.artifactType !== this.opts.artifactType) continue;
      nodes.push(n);
    }
    for (const n of nodes) {
      if (!n.annotations) await this.addAnnotations(n);
      n.referrers = await this.children(Digest.parse(n.digest), level + 1);
    }
    return nodes;
  }

  /**
   * A tag-schema index written by a client may list a referrer without the
   * annotations the referrers API copies into each descriptor (the creation
   * time among them): they are read from the referrer's own manifest.
   */
  private async addAnnotations(n: ReferrerNode): Promise<void> {
    if (n.source === "cosign-tag") return; // read whole already
    const raw = await this.repo.getManifest(Digest.parse(n.digest));
    const annotations = parseRawManifest(raw, `${this.repo.display}@${n.digest}`).annotations;
    if (annotations) n.annotations = annotations;
  }

  /** A cosign tag's manifest, read whole: cosign writes no artifactType, so its payload layer's type says what it is. */
  private async cosignNode(digest: Digest, tag: string): Promise<ReferrerNode> {
    const raw = await this.repo.getManifest(digest);
    const parsed = parseRawManifest(raw, `${this.repo.display}:${tag}`);
    // cosign writes no artifactType; its payload layer's type says what it is (simplesigning, a DSSE envelope, an SBOM).
    const artifactType =
      parsed.artifactType ?? (parsed.kind === "manifest" ? (parsed.layers[0]?.mediaType ?? parsed.config.mediaType) : undefined);
    return {
      digest: raw.digest.toString(),
      mediaType: raw.mediaType,
      ...(artifactType ? { artifactType } : {}),
      size: raw.bytes.length,
      ...(parsed.annotations ? { annotations: parsed.annotations } : {}),
      source: "cosign-tag",
      tag,
      referrers: [],
    };
  }
}

/** The tree's words for how a referrer was found (`referrers-api` is in the JSON output: kept). */
const SOURCE: Record<ReferrerFoundBy, ReferrerNode["source"]> = {
  api: "referrers-api",
  "tag-schema": "tag-schema",
  "cosign-tag": "cosign-tag",
};

function node(d: Descriptor, source: ReferrerNode["source"]): ReferrerNode {
  return {
    digest: d.digest.toString(),
    mediaType: d.mediaType,
    ...(d.artifactType ? { artifactType: d.artifactType } : {}),
    size: d.size,
    ...(d.annotations ? { annotations: d.annotations } : {}),
    source,
    referrers: [],
  };
}

/**
 * The referrers of the image `loc` names, recursively. Registries and OCI
 * layouts (archives carry no referrers). A repository without tags, or a
 * registry without the referrers API, simply contributes nothing from that
 * source.
 */
export async function referrersTree(loc: Location, opts: ReferrersOptions = {}): Promise<ReferrersTree> {
  const transport = opts.transport ?? {};
  const source = await openSource(loc, transport);
  let top: RawManifest;
  try {
    top = await source.getManifest();
  } finally {
    await source.close();
  }
  const repo = await new RepositoryFactory(() => transport).open(loc);
  const tags = await repo.listTags().catch((err: unknown) => {
    if (err instanceof NotFoundError) return [];
    throw err;
  });
  const walk = new TreeWalk(repo, new Set(tags), opts);
  return {
    subject: { location: formatLocation(loc), digest: top.digest.toString(), mediaType: top.mediaType },
    referrers: await walk.children(top.digest, 1),
  };
}
