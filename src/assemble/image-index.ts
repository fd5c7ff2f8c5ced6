// `dray index create|append|remove`: a multi-platform index assembled from
// images at any locations. Children keep their digests (their bytes are
// copied, never rewritten); only the index is new. The index goes through the
// copy engine as the top of a composed source, so every child lands in the
// destination's repository before the index that names it.
import type { CopySummary } from "../copy/types.js";
import type { ManifestFormat } from "../copy/convert.js";
import { NotFoundError, UsageError } from "../errors.js";
import { descriptorToJSON, rawManifestFromDocument, type Descriptor, type RawManifest } from "../oci/manifest.js";
import { MediaType } from "../oci/mediatype.js";
import { formatPlatform, normalizePlatform, platformMatches, type Platform } from "../oci/platform.js";
import { formatLocation, type Location } from "../ref/location.js";
import type { ImageSource } from "../transport/types.js";
import { attestedDigest, childrenOf, readTop, type Child } from "./read.js";
import { ComposedSource, routeTree } from "./source.js";
import { asLocation, checkDestination, closeAll, openSources, writeComposed, type AssembleOptions } from "./write.js";

export interface IndexOptions extends AssembleOptions {
  /** Only these platforms of each source (an index's entries, or a single image's own platform). */
  platforms?: Platform[];
  /** A child whose platform the index already has replaces that entry (else E_PLATFORM_DUPLICATE, exit 2). */
  replace?: boolean;
  /** Annotations on the index itself (OCI format only). */
  annotations?: Record<string, string>;
  /** An OCI image index or a Docker manifest list (default: `index create` Docker when every child is Docker, else OCI; `append` keeps the index's). */
  manifestFormat?: ManifestFormat;
  /** Build and return the index, write nothing. */
  dryRun?: boolean;
}

/** One entry of the index written. */
export interface IndexEntry {
  digest: string;
  mediaType: string;
  size: number;
  /** `os/arch[/variant]`, or null for an entry without a platform (an artifact). */
  platform: string | null;
  /** Where the child was read: a source location, or the destination for an entry it already had. */
  source: string;
}

export interface IndexResult {
  destination: string;
  /** The new index's digest. */
  digest: string;
  mediaType: string;
  /** The index the destination named before (`append`, `remove`). */
  previousDigest: string | null;
  manifests: IndexEntry[];
  /** Digests of the entries this run added, replaced (the old ones) and removed. */
  added: string[];
  replaced: string[];
  removed: string[];
  /** True when nothing was written (`--dry-run`). */
  dryRun: boolean;
  /** The index exactly as written (or as it would be written). */
  index: RawManifest;
  /** What the copy into the destination did (null for a dry run). */
  copy: CopySummary | null;
}

interface Planned {
  child: Child;
  /** Where the child came from, for messages and the result. */
  from: string;
}

/**
 * An index at `dst` of the images at `srcs` (an index contributes its
 * entries; `platforms` filters), e.g. `await createIndex("localhost:5000/app:1",
 * ["oci:amd64:1", "localhost:5000/app:arm64"])`.
 */
export async function createIndex(
  dst: Location | string,
  srcs: ReadonlyArray<Location | string>,
  opts: IndexOptions = {},
): Promise<IndexResult> {
  return editIndex(asLocation(dst), srcs.map(asLocation), opts, { command: "index create" });
}

/** Adds the images at `srcs` to the index at `dst` (a platform it has is replaced only with `replace`). */
export async function appendToIndex(
  dst: Location | string,
  srcs: ReadonlyArray<Location | string>,
  opts: IndexOptions = {},
): Promise<IndexResult> {
  return editIndex(asLocation(dst), srcs.map(asLocation), opts, { command: "index append", base: true });
}

/** Drops the entries of `platforms` from the index at `dst`. */
export async function removeFromIndex(
  dst: Location | string,
  platforms: readonly Platform[],
  opts: Omit<IndexOptions, "platforms" | "replace"> = {},
): Promise<IndexResult> {
  if (platforms.length === 0) throw new UsageError("index remove: give the platforms to drop with --platform");
  return editIndex(asLocation(dst), [], opts, { command: "index remove", base: true, remove: platforms });
}

interface Edit {
  command: string;
  /** Start from the index `dst` names now. */
  base?: boolean;
  remove?: readonly Platform[];
}

async function editIndex(dst: Location, srcs: Location[], opts: IndexOptions, edit: Edit): Promise<IndexResult> {
  await checkDestination(dst, true, edit.command, srcs);
  if (!edit.base && srcs.length === 0) throw new UsageError(`${edit.command}: give at least one source image`);
  if (opts.manifestFormat === "docker" && opts.annotations && Object.keys(opts.annotations).length > 0)
    throw new UsageError(`${edit.command}: Docker's manifest list has no annotations; use --manifest-format oci`);
  const sources = await openSources(srcs, opts.source);
  const opened: ImageSource[] = [...sources];
  try {
    let base: { source: ImageSource; raw: RawManifest; doc: Record<string, unknown>; children: Child[] } | undefined;
    if (edit.base) {
      const [source] = await openSources([dst], opts.destination);
      opened.push(source!);
      const top = await readTop(source!, opts.signal);
      if (top.parsed.kind !== "index")
        throw new UsageError(`${edit.command}: ${formatLocation(dst)} is a single image, not an index; create one with dray index create`);
      const doc = JSON.parse(top.raw.bytes.toString("utf8")) as Record<string, unknown>;
      base = { source: source!, raw: top.raw, doc, children: await childrenOf(source!, opts.signal) };
    }
    const wanted = opts.platforms ?? [];
    const incoming: Planned[] = [];
    for (const source of sources) {
      const from = formatLocation(source.location);
      for (const child of filterPlatforms(await childrenOf(source, opts.signal), wanted)) incoming.push({ child, from });
    }
    for (const p of wanted) {
      if (!incoming.some((c) => platformMatches(p, c.child.descriptor.platform)))
        throw new NotFoundError(`${edit.command}: no source has an image for platform ${formatPlatform(p)}`, {
          code: "E_PLATFORM_NOT_FOUND",
        });
    }
    const dstText = formatLocation(dst);
    const existing = (base?.children ?? []).map((child) => ({ child, from: dstText }));
    const { entries, replaced, removed } = merge(existing, incoming, opts.replace === true, edit);
    if (entries.length === 0) throw new UsageError(`${edit.command}: the index would have no entries`);
    const mediaType = indexMediaType(opts.manifestFormat, base?.raw.mediaType, entries);
    const index = indexDocument(entries, mediaType, base?.doc, opts.annotations, edit.command);
    const result: IndexResult = {
      destination: dstText,
      digest: index.digest.toString(),
      mediaType,
      previousDigest: base ? base.raw.digest.toString() : null,
      manifests: entries.map(({ child, from }) => ({
        digest: child.descriptor.digest.toString(),
        mediaType: child.descriptor.mediaType,
        size: child.descriptor.size,
        platform: child.descriptor.platform ? formatPlatform(child.descriptor.platform) : null,
        source: from,
      })),
      added: incoming.filter((p) => entries.includes(p)).map((p) => p.child.descriptor.digest.toString()),
      replaced,
      removed,
      dryRun: opts.dryRun === true,
      index,
      copy: null,
    };
    if (opts.dryRun) return result;
    const composed = new ComposedSource(dst, index);
    await Promise.all(
      entries.map(({ child }) => routeTree(composed, child.source, child.raw, formatLocation(child.source.location), opts.signal)),
    );
    result.copy = await writeComposed(composed, dst, opts);
    return result;
  } finally {
    await closeAll(opened);
  }
}

/** A source's children for the platforms asked for; attestations follow the images they describe. */
function filterPlatforms(children: Child[], wanted: readonly Platform[]): Child[] {
  if (wanted.length === 0) return children;
  const kept = children.filter(
    (c) => attestedDigest(c.descriptor) === undefined && wanted.some((p) => platformMatches(p, c.descriptor.platform)),
  );
  const digests = new Set(kept.map((c) => c.descriptor.digest.toString()));
  return children.filter((c) => kept.includes(c) || digests.has(attestedDigest(c.descriptor) ?? ""));
}

/**
 * The key two entries clash on: the normalised platform with its os.version
 * (Windows images of several versions share os/arch). Attestations and
 * `unknown/unknown` entries never clash; an entry without a platform clashes
 * only with the same digest.
 */
function clashKey(d: Descriptor): string | undefined {
  if (attestedDigest(d) !== undefined) return undefined;
  const p = d.platform;
  if (!p) return `digest ${d.digest}`;
  if (p.os === "unknown" && p.architecture === "unknown") return undefined;
  return `${formatPlatform(normalizePlatform(p))}${p["os.version"] ? ` (os.version ${p["os.version"]})` : ""}`;
}

function merge(
  existing: Planned[],
  incoming: Planned[],
  replace: boolean,
  edit: Edit,
): { entries: Planned[]; replaced: string[]; removed: string[] } {
  let entries = [...existing];
  const replaced: string[] = [];
  const removed: string[] = [];
  const drop = (victim: Planned): void => {
    const digest = victim.child.descriptor.digest.toString();
    // Its attestations go with it.
    entries = entries.filter((e) => e !== victim && attestedDigest(e.child.descriptor) !== digest);
  };
  for (const p of edit.remove ?? []) {
    const victims = entries.filter(
      (e) => attestedDigest(e.child.descriptor) === undefined && platformMatches(p, e.child.descriptor.platform),
    );
    if (victims.length === 0) {
      const offered = existing.flatMap((e) => (e.child.descriptor.platform ? [formatPlatform(e.child.descriptor.platform)] : []));
      throw new NotFoundError(
        `${edit.command}: the index has no entry for platform ${formatPlatform(p)} (it has: ${offered.join(", ") || "none"})`,
        {
          code: "E_PLATFORM_NOT_FOUND",
        },
      );
    }
    for (const v of victims) {
      removed.push(v.child.descriptor.digest.toString());
      drop(v);
    }
  }
  for (const item of incoming) {
    const key = clashKey(item.child.descriptor);
    const clash = key === undefined ? undefined : entries.find((e) => clashKey(e.child.descriptor) === key);
    if (!clash) {
      entries.push(item);
      continue;
    }
    if (!replace) {
      throw new UsageError(
        `${edit.command}: two images for ${key}: ${clash.child.descriptor.digest} from ${clash.from} and ${item.child.descriptor.digest} from ${item.from}; use --replace to keep the later one`,
        { code: "E_PLATFORM_DUPLICATE" },
      );
    }
    // The later one takes the earlier one's place, so the index's order stays the user's.
    const at = entries.indexOf(clash);
    if (!clash.child.descriptor.digest.equals(item.child.descriptor.digest)) replaced.push(clash.child.descriptor.digest.toString());
    drop(clash);
    entries.splice(Math.min(at, entries.length), 0, item);
  }
  // Attestations whose image is not in the index have nothing to describe.
  const digests = new Set(entries.map((e) => e.child.descriptor.digest.toString()));
  return {
    entries: entries.filter((e) => digests.has(attestedDigest(e.child.descriptor) ?? e.child.descriptor.digest.toString())),
    replaced,
    removed,
  };
}

function indexMediaType(asked: ManifestFormat | undefined, baseType: string | undefined, entries: readonly Planned[]): string {
  if (asked) return asked === "docker" ? MediaType.DockerManifestList : MediaType.OciIndex;
  if (baseType) return baseType;
  const allDocker = entries.every((e) => e.child.descriptor.mediaType === MediaType.DockerManifest);
  return allDocker ? MediaType.DockerManifestList : MediaType.OciIndex;
}

/**
 * The index document: the base index's own fields kept (its annotations
 * merged under the new ones), `manifests` the entries' descriptors. A Docker
 * manifest list carries no annotations and needs a platform on every entry.
 */
function indexDocument(
  entries: readonly Planned[],
  mediaType: string,
  base: Record<string, unknown> | undefined,
  annotations: Record<string, string> | undefined,
  command: string,
): RawManifest {
  const docker = mediaType === MediaType.DockerManifestList;
  const manifests = entries.map(({ child, from }) => {
    const d: Descriptor = { ...child.descriptor };
    if (docker) {
      if (!d.platform)
        throw new UsageError(
          `${command}: ${d.digest} from ${from} has no platform, which a Docker manifest list needs; use --manifest-format oci`,
        );
      delete d.annotations;
      delete d.artifactType;
    }
    return descriptorToJSON(d);
  });
  const doc: Record<string, unknown> = { schemaVersion: 2, mediaType, ...(base ?? {}), manifests };
  doc.mediaType = mediaType;
  const merged = { ...((base?.annotations as Record<string, string> | undefined) ?? {}), ...(annotations ?? {}) };
  if (docker) {
    delete doc.annotations;
    delete doc.subject;
    delete doc.artifactType;
  } else if (Object.keys(merged).length > 0) doc.annotations = merged;
  return rawManifestFromDocument(doc, mediaType);
}
