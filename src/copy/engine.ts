import { stopwatch } from "../clock.js";
import { IntegrityError, UnsupportedError, UsageError } from "../errors.js";
import { Digest } from "../oci/digest.js";
import {
  dockerArchiveManifest,
  configPlatform,
  parseImageConfig,
  parseRawManifest,
  type Descriptor,
  type ImageManifest,
  type RawManifest,
} from "../oci/manifest.js";
import { MediaType, layerCompression, type LayerCompression } from "../oci/mediatype.js";
import { formatPlatform, platformMatches, type Platform } from "../oci/platform.js";
import { formatLocation } from "../ref/location.js";
import { platformNotFound } from "../image/resolve.js";
import type { ImageDestination, ImageSource } from "../transport/types.js";
import { placeBlob, placeUncompressedLayer, readConfig } from "./blobs.js";
import { pickSinglePlatform, selectPlatforms } from "./select.js";
import { CopySession, type ImageCopy, type PlacedBlob, type TransferOptions } from "./session.js";
import type { BeforeTag, ConversionOptions, CopyOptions, CopySummary, ImageResult } from "./types.js";
import { convertTree, hasDockerTypes, type ManifestFormat, type Node, type Replacements } from "./convert.js";
import { layerChange, recompressLayer, type NewLayer } from "./recompress.js";
import { defined } from "../defined.js";

/** Indexes nest (an index of indexes is legal); deeper than this is refused rather than followed. */
const MAX_DEPTH = 4;
/**
 * Entries one index may list, and the entries of all distinct indexes one
 * copy may read. Real indexes list a few platforms, with their attestations
 * a few dozen; a hostile one within the 4 MiB manifest cap lists ~15 000, and
 * an index of such indexes would otherwise be planned 15 000 × 15 000 times.
 */
export const MAX_INDEX_ENTRIES = 4096;
export const MAX_COPY_INDEX_ENTRIES = 16_384;

/** An image manifest of the tree (not an index). */
type ImageNode = Extract<Node, { kind: "manifest" }>;

/** The manifest a child descriptor names, checked against the descriptor. */
async function fetchManifest({ session, src, where }: ImageCopy, desc: Descriptor): Promise<RawManifest> {
  const raw = await session.requests(() => src.getManifest(desc.digest, { signal: session.signal }));
  const at = `${where} manifest ${desc.digest}`;
  if (!raw.digest.equals(desc.digest) || raw.bytes.length !== desc.size) {
    throw new IntegrityError(`manifest ${desc.digest} (${desc.size} bytes) read as ${raw.digest} (${raw.bytes.length} bytes) at ${where}`, {
      code: "E_DIGEST_MISMATCH",
      where: at,
    });
  }
  return raw;
}

/**
 * Parses a raw manifest (digest checked) into a node, fetching an index's
 * children in parallel. Each distinct digest is fetched and planned once per
 * session: a child named many times is one shared node (the graph is a DAG).
 */
async function expand(copy: ImageCopy, raw: RawManifest, depth: number): Promise<Node> {
  const { where } = copy;
  const parsed = parseRawManifest(raw, where);
  // Store under the document's own type: a transport may report a generic Content-Type.
  const typed: RawManifest = { ...raw, mediaType: parsed.mediaType };
  if (parsed.kind === "manifest") return { kind: "manifest", raw: typed, manifest: parsed };
  if (depth >= MAX_DEPTH)
    throw new IntegrityError(`indexes nested deeper than ${MAX_DEPTH} levels at ${where}`, { code: "E_MANIFEST_INVALID", where });
  countIndexEntries(copy, raw, parsed.manifests.length);
  const children = await Promise.all(parsed.manifests.map((d) => expandChild(copy, d, depth + 1)));
  return { kind: "index", raw: typed, children };
}

/** Counts an index's entries against the limits of one index and of one copy (a hostile index of indexes). */
function countIndexEntries({ session, where }: ImageCopy, raw: RawManifest, entries: number): void {
  if (entries > MAX_INDEX_ENTRIES) {
    throw new IntegrityError(
      `index ${raw.digest} at ${where} lists ${entries} manifests, more than the ${MAX_INDEX_ENTRIES} dray accepts in one index`,
      { code: "E_TOO_LARGE", where },
    );
  }
  session.indexEntries += entries;
  if (session.indexEntries > MAX_COPY_INDEX_ENTRIES) {
    throw new IntegrityError(
      `the indexes under ${where} list more than ${MAX_COPY_INDEX_ENTRIES} manifests in all, more than dray accepts in one copy`,
      { code: "E_TOO_LARGE", where },
    );
  }
}

function expandChild(copy: ImageCopy, desc: Descriptor, depth: number): Promise<Node> {
  const { session, where } = copy;
  const key = desc.digest.toString();
  let node = session.nodes.get(key);
  if (node === undefined) {
    node = fetchManifest(copy, desc).then((raw) => expand(copy, raw, depth));
    node.catch(() => undefined); // the caller awaits it; a second caller sees the same failure
    session.nodes.set(key, node);
  } else {
    // The same bytes named again: the descriptor must still agree with them.
    const named = node;
    node = named.then((n) => {
      if (n.raw.bytes.length !== desc.size)
        throw new IntegrityError(`manifest ${desc.digest} (${desc.size} bytes) read as ${n.raw.bytes.length} bytes at ${where}`, {
          code: "E_SIZE_MISMATCH",
          where,
        });
      return n;
    });
  }
  return node;
}

/** Every node of the graph once (children before their index), however often indexes name it. */
function uniqueNodes(root: Node): Node[] {
  const seen = new Set<string>();
  const out: Node[] = [];
  const visit = (n: Node): void => {
    const key = n.raw.digest.toString();
    if (seen.has(key)) return;
    seen.add(key);
    if (n.kind === "index") n.children.forEach(visit);
    out.push(n);
  };
  visit(root);
  return out;
}

/**
 * A layer with `urls` that the destination keeps foreign (a registry, an OCI layout): its blob is
 * not copied, the manifest names where it lives, as skopeo does (containers/image copy: a layer
 * with URLs is skipped when the destination AcceptsForeignLayerURLs). Windows base layers are the
 * everyday case: their licence keeps them on Microsoft's servers.
 */
function keptForeign(session: CopySession, d: Descriptor): boolean {
  return session.dst.capabilities.keepsForeignLayers === true && d.urls !== undefined && d.urls.length > 0;
}

/** Counts a kept-foreign layer as skipped, once per session. */
function keepForeign(session: CopySession, d: Descriptor): Promise<PlacedBlob> {
  return session.once(session.blobs, d.digest.toString(), async () => {
    session.counts.skipped++;
    session.emit({ type: "blob-done", digest: d.digest.toString(), size: d.size, outcome: "skipped" });
    return { digest: d.digest.toString(), size: d.size };
  });
}

/** The blobs of a tree that will move, each once, for the plan event. */
function distinctBlobs(session: CopySession, node: Node): Map<string, number> {
  const into = new Map<string, number>();
  for (const n of uniqueNodes(node)) {
    if (n.kind !== "manifest") continue;
    for (const d of [n.manifest.config, ...n.manifest.layers]) if (!keptForeign(session, d)) into.set(d.digest.toString(), d.size);
  }
  return into;
}

function countManifests(node: Node): number {
  return uniqueNodes(node).length;
}

/** How the top manifest is stored: under which tag (undefined: the location's own), and the hook run before the tag is written. */
interface TopPut {
  tag: string | undefined;
  beforeTag?: BeforeTag | undefined;
}

/** Stores one manifest: a child (no `top`), or the top one, last. */
async function putManifest(session: CopySession, raw: RawManifest, top?: TopPut): Promise<void> {
  session.checkAborted();
  if (top?.beforeTag) {
    // Stored by digest first (a registry's PUT by digest, a layout's blob), then the hook, then the tag.
    await session.dst.putManifest(raw, { isTop: false, signal: session.signal });
    await top.beforeTag(raw);
    session.checkAborted();
  }
  await session.dst.putManifest(
    raw,
    top ? { isTop: true, signal: session.signal, ...defined({ tag: top.tag }) } : { isTop: false, signal: session.signal },
  );
  session.manifests++;
  session.emit({ type: "manifest-put", digest: raw.digest.toString(), mediaType: raw.mediaType, top: top !== undefined });
}

/** Blobs first, then each manifest once its own blobs (or children) are in place, the top one last. */
async function putTree(copy: ImageCopy, node: Node, top?: TopPut): Promise<void> {
  const { session } = copy;
  if (node.kind === "index") {
    await Promise.all(node.children.map((c) => putChild(copy, c)));
  } else {
    const { config, layers } = node.manifest;
    await Promise.all([config, ...layers].map((d) => (keptForeign(session, d) ? keepForeign(session, d) : placeBlob(copy, d))));
  }
  await putManifest(session, node.raw, top);
}

/** A child manifest with what it needs, stored once however many indexes name it. */
function putChild(copy: ImageCopy, node: Node): Promise<void> {
  const { session } = copy;
  const key = node.raw.digest.toString();
  let placed = session.placedManifests.get(key);
  if (placed === undefined) {
    placed = putTree(copy, node);
    session.placedManifests.set(key, placed);
  }
  return placed;
}

/** The config's diff_ids, one per layer of `manifest` (a config listing another count is refused). */
async function diffIdsOf(copy: ImageCopy, manifest: ImageManifest): Promise<string[]> {
  const { where } = copy;
  const { config, layers } = manifest;
  const diffIds = parseImageConfig(await readConfig(copy, config), where).rootfs?.diff_ids ?? [];
  if (diffIds.length !== layers.length) {
    throw new IntegrityError(`config ${config.digest} lists ${diffIds.length} diff_ids for ${layers.length} layers at ${where}`, {
      code: "E_MANIFEST_INVALID",
      where,
    });
  }
  return diffIds;
}

/**
 * For a destination that needs uncompressed layers: layers decompressed and
 * checked against the config's diff_ids, then a new manifest describing what
 * was stored (its digest differs from the source's).
 */
async function putUncompressed(copy: ImageCopy, node: Node): Promise<RawManifest> {
  const { session } = copy;
  if (node.kind !== "manifest") throw new UnsupportedError(`${formatLocation(session.dst.location)} cannot hold an index`);
  const { config, layers } = node.manifest;
  const diffIds = await diffIdsOf(copy, node.manifest);
  const [, ...placed] = await Promise.all([
    placeBlob(copy, config),
    ...layers.map((l, i) => placeUncompressedLayer(copy, l, Digest.parse(diffIds[i]!))),
  ]);
  const newLayers = layers.map((l, i) => ({
    mediaType: MediaType.DockerLayer,
    digest: Digest.parse(placed[i]!.digest),
    size: placed[i]!.size,
  }));
  const raw = dockerArchiveManifest(config, newLayers);
  // The hook (re-signing) runs here as in putTree: a destination that takes layers uncompressed is no exception.
  await putManifest(session, raw, { tag: copy.opts.tag, beforeTag: copy.opts.beforeTag });
  return raw;
}

/** A single image's platform, from its config, checked against every platform asked for. */
async function checkImagePlatform(copy: ImageCopy, manifest: ImageManifest): Promise<string> {
  const { where } = copy;
  const config = parseImageConfig(await readConfig(copy, manifest.config), where);
  const own: Platform | undefined = configPlatform(config);
  const missing = copy.opts.platforms.find((p) => !platformMatches(p, own));
  if (missing) throw platformNotFound(missing, where, { single: own });
  return own ? formatPlatform(own) : "unknown";
}

interface TopChoice {
  /** The manifest the destination's tag will name, before its children are fetched. */
  raw: RawManifest;
  platforms?: string[];
  notice?: string;
}

/** Decides what the destination's top manifest is: the source's, a platform subset, or one platform's image. */
async function chooseTop(copy: ImageCopy, top: RawManifest): Promise<TopChoice> {
  const { session, where } = copy;
  const wanted = copy.opts.platforms;
  const parsed = parseRawManifest(top, where);
  const { dst } = session;
  if (parsed.kind === "manifest") {
    if (wanted.length === 0) return { raw: top };
    return { raw: top, platforms: [await checkImagePlatform(copy, parsed)] };
  }
  if (!dst.capabilities.acceptsIndex) {
    const choice = pickSinglePlatform(parsed, wanted, where, formatLocation(dst.location));
    if (choice.notice) session.emit({ type: "notice", message: choice.notice });
    const raw = await fetchManifest(copy, choice.entry);
    return { raw, platforms: [choice.platform], ...(choice.notice ? { notice: choice.notice } : {}) };
  }
  const selection = selectPlatforms(top, parsed, wanted, where);
  return { raw: selection.index, ...defined({ platforms: selection.platforms }) };
}

/** The digest the destination's tag (the location's, or `tag`) names now, when asking makes sense. */
async function currentDigest(dst: ImageDestination, tag: string | undefined, signal: AbortSignal): Promise<Digest | undefined> {
  if (!dst.capabilities.preservesDigests || dst.capabilities.needsUncompressedLayers) return undefined;
  if (tag !== undefined) return dst.tagDigest?.(tag, { signal });
  return dst.currentDigest({ signal });
}

/**
 * The manifest format to write: the one asked for; else OCI when the source
 * made its manifest up (a pre-25 docker save archive: no digest to keep) and
 * the destination is an OCI layout, which OCI-only readers must open.
 */
function targetFormat(src: ImageSource, dst: ImageDestination, opts: ConversionOptions): ManifestFormat | undefined {
  if (opts.manifestFormat) return opts.manifestFormat;
  if (opts.compress === "zstd") return "oci"; // Docker's format has no zstd layer type
  return src.generatedManifest === true && dst.capabilities.ociLayout === true ? "oci" : undefined;
}

/**
 * Refuses, before anything moves, what no destination could be given:
 * zstd layers in Docker's format, or in a destination that cannot hold them.
 */
export function checkConversion(opts: ConversionOptions, dst: ImageDestination): void {
  if (opts.compress !== "zstd") return;
  if (opts.manifestFormat === "docker")
    throw new UsageError("--compress zstd cannot go with --manifest-format docker: Docker's manifest format has no zstd layers");
  const accepted = acceptedCompressions(dst);
  if (accepted && !accepted.includes("zstd"))
    throw new UsageError(`${formatLocation(dst.location)} cannot hold zstd layers (docker load reads gzip or plain tar)`);
}

function acceptedCompressions(dst: ImageDestination): readonly LayerCompression[] | undefined {
  return dst.capabilities.needsUncompressedLayers ? ["none"] : dst.capabilities.layerCompressions;
}

/** What a layer compressed as `from` is stored as: the one asked for, else as it is; zstd decompressed where it cannot go. */
function targetCompression({ session, opts }: ImageCopy, from: LayerCompression, format: ManifestFormat): LayerCompression {
  const accepted = acceptedCompressions(session.dst);
  let to = opts.compress ?? from;
  if (to === "zstd" && format === "docker") to = "none";
  if (accepted && !accepted.includes(to)) to = "none";
  return to;
}

/** A layer of an image with its place in the manifest and its compression (a known layer type). */
interface LayerAt {
  layer: Descriptor;
  index: number;
  from: LayerCompression;
}

/** The layers of one image whose compression changes; a level asked for recompresses even layers already in the target compression. */
function changingLayers(copy: ImageCopy, manifest: ImageManifest, family: ManifestFormat): LayerAt[] {
  const { compress, compressLevel } = copy.opts;
  const changes = (from: LayerCompression): boolean => {
    const to = targetCompression(copy, from, family);
    return to !== from || (compressLevel !== undefined && to === compress);
  };
  return manifest.layers
    .map((layer, index) => ({ layer, index, from: layerCompression(layer.mediaType) }))
    .filter((j): j is LayerAt => j.from !== undefined && changes(j.from) && !keptForeign(copy.session, j.layer));
}

/** Recompresses the layers of every image in the tree that must change; returns the new layers by source digest. */
async function recompressTree(copy: ImageCopy, root: Node): Promise<Replacements> {
  const images = uniqueNodes(root).filter((n): n is ImageNode => n.kind === "manifest");
  const out = new Map<string, NewLayer>();
  await Promise.all(images.map((image) => recompressImage(copy, image, out)));
  return out;
}

/** Recompresses the layers of one image that must change, into `out` by source digest. */
async function recompressImage(copy: ImageCopy, image: ImageNode, out: Map<string, NewLayer>): Promise<void> {
  const family = copy.format ?? (image.raw.mediaType.startsWith("application/vnd.docker.") ? "docker" : "oci");
  // A layer kept foreign is not fetched, so not recompressed either (skopeo skips it before any conversion).
  const changing = changingLayers(copy, image.manifest, family);
  if (changing.length === 0) return;
  const diffIds = await diffIdsOf(copy, image.manifest);
  await Promise.all(
    changing.map(async ({ layer, index, from }) => {
      const target = { diffId: Digest.parse(diffIds[index]!), to: targetCompression(copy, from, family) };
      out.set(layer.digest.toString(), await recompressLayer(copy, layer, target));
    }),
  );
}

/** `2 layers decompressed (zstd to plain tar)`: each kind of change with its count, in a stable order. */
function describeReplaced(replaced: Replacements): string {
  const counts = new Map<string, number>();
  for (const r of replaced.values()) {
    const change = layerChange(r.from, r.compression);
    counts.set(change, (counts.get(change) ?? 0) + 1);
  }
  return [...counts]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([change, n]) => `${n} ${n === 1 ? "layer" : "layers"} ${change}`)
    .join(", ");
}

/** The tree as the destination will hold it, with what the user should hear about it. */
function convertForDestination(
  copy: ImageCopy,
  root: Node,
  replaced: Replacements,
): { root: Node; notice?: string; convertedFrom?: string } {
  const { session, format, where } = copy;
  if (format === undefined && replaced.size === 0) {
    if (session.dst.capabilities.ociLayout && hasDockerTypes(root)) {
      const notice = `the image is in Docker's manifest format, kept byte for byte (digest ${root.raw.digest}); OCI-only readers (umoci) need --manifest-format oci`;
      return { root, notice };
    }
    return { root };
  }
  const converted = convertTree(root, { format, where, replaced });
  if (converted.raw.digest.equals(root.raw.digest)) return { root };
  const what = replaced.size > 0 ? describeReplaced(replaced) : `manifests converted to ${format === "oci" ? "OCI" : "Docker"} format`;
  if (copy.src.generatedManifest) {
    // The old digest was dray's own invention (no referrer can name it), but the user saw it as "resolved".
    const notice = `${where} holds no manifest (docker save before Docker 25): the one dray made for it, ${root.raw.digest}, is stored as ${converted.raw.digest} (${what})`;
    return { root: converted, notice };
  }
  const notice = `${what}: the image is now ${converted.raw.digest} (was ${root.raw.digest}); referrers of the old digest do not refer to it and are not copied`;
  return { root: converted, notice, convertedFrom: root.raw.digest.toString() };
}

/** One image's copy within `session`, with what its steps share worked out once. */
function startCopy(session: CopySession, src: ImageSource, opts: TransferOptions): ImageCopy {
  const format = targetFormat(src, session.dst, opts);
  const converting = format !== undefined || opts.compress !== undefined || acceptedCompressions(session.dst) !== undefined;
  return { session, src, where: formatLocation(src.location), opts, format, converting };
}

/** What the destination's tag will name, and what the result says about how it was chosen or converted. */
interface Plan {
  /** The top manifest as the destination will hold it. */
  raw: RawManifest;
  /** The result's `platforms` and `notice`, in that order. */
  about: { platforms?: string[]; notice?: string };
  /** The result's `convertedFrom`, once the tree was converted. */
  converted: { convertedFrom?: string };
}

/** A plan with the whole tree read and rewritten for the destination. */
interface TreePlan extends Plan {
  root: Node;
}

/** Plan, first part: the top manifest the destination's tag will name, announced before its children are read. */
async function planTop(copy: ImageCopy): Promise<Plan> {
  const { session, src } = copy;
  const top = await session.requests(() => src.getManifest(undefined, { signal: session.signal }));
  const choice = await chooseTop(copy, top);
  const platforms = choice.platforms ? { platforms: choice.platforms } : {};
  session.emit({
    type: "manifest-resolved",
    source: copy.where,
    digest: choice.raw.digest.toString(),
    mediaType: choice.raw.mediaType,
    ...platforms,
  });
  return { raw: choice.raw, about: { ...platforms, ...(choice.notice ? { notice: choice.notice } : {}) }, converted: {} };
}

/**
 * Plan, second part: the tree read, and rewritten as the destination will hold
 * it. Recompressed layers are stored on the way: their new digests make the
 * new manifests.
 */
async function planTree(copy: ImageCopy, top: Plan): Promise<TreePlan> {
  const { session } = copy;
  const expanded = await expand(copy, top.raw, 0);
  const replaced = session.dst.capabilities.needsUncompressedLayers ? new Map<string, NewLayer>() : await recompressTree(copy, expanded);
  const conversion = convertForDestination(copy, expanded, replaced);
  const about = { ...top.about };
  if (conversion.notice) {
    session.emit({ type: "notice", message: conversion.notice });
    about.notice = about.notice ? `${about.notice}; ${conversion.notice}` : conversion.notice;
  }
  const converted = conversion.convertedFrom ? { convertedFrom: conversion.convertedFrom } : {};
  return { raw: conversion.root.raw, root: conversion.root, about, converted };
}

/** Up-to-date check: the result when the destination's tag already names the planned digest. */
async function upToDate(
  session: CopySession,
  current: Promise<Digest | undefined> | undefined,
  plan: Plan,
): Promise<ImageResult | undefined> {
  if (current === undefined) return undefined;
  const digest = await current;
  if (!digest?.equals(plan.raw.digest)) return undefined;
  session.emit({ type: "up-to-date", digest: digest.toString() });
  return { digest: digest.toString(), mediaType: plan.raw.mediaType, manifests: 0, upToDate: true, ...plan.about, ...plan.converted };
}

/** Announces what will move (the plan event) and lets the destination reserve room for it; returns the manifests to store. */
async function announcePlan(session: CopySession, root: Node): Promise<number> {
  const blobs = distinctBlobs(session, root);
  const manifests = countManifests(root);
  session.emit({
    type: "plan",
    images: root.kind === "index" ? root.children.length : 1,
    manifests,
    blobs: blobs.size,
    bytes: [...blobs.values()].reduce((a, b) => a + b, 0),
  });
  await session.dst.reserveSpace?.(
    [...blobs].map(([digest, size]) => ({ digest, size })),
    { signal: session.signal },
  );
  return manifests;
}

/** Put: blobs, then manifests, the top one last (under the tag asked for). */
async function putImage(copy: ImageCopy, plan: TreePlan): Promise<ImageResult> {
  const { session, opts } = copy;
  const { root } = plan;
  const manifests = await announcePlan(session, root);
  if (session.dst.capabilities.needsUncompressedLayers) {
    const raw = await putUncompressed(copy, root);
    return { digest: raw.digest.toString(), mediaType: raw.mediaType, manifests: 1, upToDate: false, ...plan.about };
  }
  await putTree(copy, root, { tag: opts.tag, beforeTag: opts.beforeTag });
  return {
    digest: root.raw.digest.toString(),
    mediaType: root.raw.mediaType,
    manifests,
    upToDate: false,
    ...plan.about,
    ...plan.converted,
  };
}

/**
 * Copies the image `src` names into `dst` without committing: the part shared
 * by a single copy and `--all-tags` (where many images go into one destination).
 * Three steps: plan, up-to-date check, put.
 */
export async function transferImage(session: CopySession, src: ImageSource, opts: TransferOptions): Promise<ImageResult> {
  const copy = startCopy(session, src, opts);
  // The destination's current digest is asked for while the source resolves:
  // both are a first round trip (often with a ping) to a different place.
  const current = opts.checkCurrent ? session.track(currentDigest(session.dst, opts.tag, session.signal)) : undefined;
  const top = await planTop(copy);
  // An image stored as it is is known up to date from its top manifest alone, before its children are read;
  // a converted image's digest is known only once the whole tree is rewritten.
  const same = copy.converting ? undefined : await upToDate(session, current, top);
  if (same) return same;
  const plan = await planTree(copy, top);
  const sameConverted = copy.converting ? await upToDate(session, current, plan) : undefined;
  if (sameConverted) return sameConverted;
  return putImage(copy, plan);
}

/**
 * Copies the image `src` names into `dst` and commits: blobs, then child
 * manifests, then the index, then the tag; then `dst.commit()`. On any
 * failure or abort every transfer stops, `dst.abort()` discards what was
 * written, and the first real error (InterruptedError for an abort) is thrown.
 * The caller still owns `src` and closes it.
 */
export async function copyImage(src: ImageSource, dst: ImageDestination, opts: CopyOptions = {}): Promise<CopySummary> {
  const elapsed = stopwatch();
  const session = new CopySession(dst, opts);
  try {
    checkConversion(opts, dst);
    const result = await session.track(transferImage(session, src, transferOptions(opts)));
    session.checkAborted();
    // Nothing was written when up to date; abort() just releases what opening took.
    if (result.upToDate) await dst.abort();
    else await dst.commit();
    const summary: CopySummary = {
      source: formatLocation(src.location),
      destination: formatLocation(dst.location),
      ...result,
      manifests: session.manifests,
      blobs: { ...session.counts },
      bytes: session.bytes,
      seconds: elapsed(),
    };
    session.emit({ type: "done", summary });
    return summary;
  } catch (err) {
    throw await failSession(session, err);
  }
}

/** Stops every transfer, waits for them, discards the destination's writes, and returns the error to throw. */
export async function failSession(session: CopySession, err: unknown): Promise<unknown> {
  session.fail(err);
  await session.settle();
  try {
    await session.dst.abort();
  } catch {
    // The original failure is what the user needs to see; abort is best effort.
  }
  return session.error(err);
}

/** What one image's transfer is asked for by a copy's options (and, under `--all-tags`, its tag); the destination is checked for the digest. */
export function transferOptions(opts: CopyOptions, tag?: string): TransferOptions {
  return {
    platforms: opts.platforms ?? [],
    ...defined({ tag }),
    checkCurrent: true,
    ...conversionOf(opts),
    ...defined({ beforeTag: opts.beforeTag }),
  };
}

/** The conversion fields of `opts`, only those set. */
export function conversionOf(opts: ConversionOptions): ConversionOptions {
  return {
    ...defined({ manifestFormat: opts.manifestFormat, compress: opts.compress, compressLevel: opts.compressLevel }),
  };
}
