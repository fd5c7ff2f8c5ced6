import { stopwatch } from "../clock.js";
import { IntegrityError, UnsupportedError } from "../errors.js";
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
import { MediaType } from "../oci/mediatype.js";
import { formatPlatform, platformMatches, type Platform } from "../oci/platform.js";
import { formatLocation } from "../ref/location.js";
import { platformNotFound } from "../image/resolve.js";
import type { ImageDestination, ImageSource } from "../transport/types.js";
import { placeBlob, placeUncompressedLayer, readConfig } from "./blobs.js";
import { pickSinglePlatform, selectPlatforms } from "./select.js";
import { CopySession, type PlacedBlob } from "./session.js";
import type { ConversionOptions, CopyOptions, CopySummary, ImageResult } from "./types.js";

import { convertTree, hasDockerTypes, type ManifestFormat, type Node, type Replacements } from "./convert.js";
import { recompressLayer, type NewLayer } from "./recompress.js";
import { layerCompression, type LayerCompression } from "../oci/mediatype.js";
import { UsageError } from "../errors.js";

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

export interface TransferOptions extends ConversionOptions {
  /** Stores the top manifest under this tag instead of the destination location's own reference. */
  tag?: string;
  /** Compare the destination tag's digest (dst.currentDigest(), or dst.tagDigest(tag)) and finish at once when equal. */
  checkCurrent: boolean;
}

/** The manifest a child descriptor names, checked against the descriptor. */
async function fetchManifest(session: CopySession, src: ImageSource, desc: Descriptor, where: string): Promise<RawManifest> {
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
async function expand(session: CopySession, src: ImageSource, raw: RawManifest, where: string, depth: number): Promise<Node> {
  const parsed = parseRawManifest(raw, where);
  // Store under the document's own type: a transport may report a generic Content-Type.
  const typed: RawManifest = { ...raw, mediaType: parsed.mediaType };
  if (parsed.kind === "manifest") return { kind: "manifest", raw: typed, manifest: parsed };
  if (depth >= MAX_DEPTH)
    throw new IntegrityError(`indexes nested deeper than ${MAX_DEPTH} levels at ${where}`, { code: "E_MANIFEST_INVALID", where });
  const entries = parsed.manifests.length;
  if (entries > MAX_INDEX_ENTRIES) {
    throw new IntegrityError(
      `index ${raw.digest} at ${where} lists ${entries} manifests, more than the ${MAX_INDEX_ENTRIES} dray accepts in one index`,
      {
        code: "E_TOO_LARGE",
        where,
      },
    );
  }
  session.indexEntries += entries;
  if (session.indexEntries > MAX_COPY_INDEX_ENTRIES) {
    throw new IntegrityError(
      `the indexes under ${where} list more than ${MAX_COPY_INDEX_ENTRIES} manifests in all, more than dray accepts in one copy`,
      { code: "E_TOO_LARGE", where },
    );
  }
  const children = await Promise.all(parsed.manifests.map((d) => expandChild(session, src, d, where, depth + 1)));
  return { kind: "index", raw: typed, children };
}

function expandChild(session: CopySession, src: ImageSource, desc: Descriptor, where: string, depth: number): Promise<Node> {
  const key = desc.digest.toString();
  let node = session.nodes.get(key);
  if (node === undefined) {
    node = fetchManifest(session, src, desc, where).then((raw) => expand(session, src, raw, where, depth));
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

async function putManifest(session: CopySession, raw: RawManifest, top: boolean, tag: string | undefined): Promise<void> {
  session.checkAborted();
  await session.dst.putManifest(
    raw,
    top ? { isTop: true, signal: session.signal, ...(tag === undefined ? {} : { tag }) } : { isTop: false, signal: session.signal },
  );
  session.manifests++;
  session.emit({ type: "manifest-put", digest: raw.digest.toString(), mediaType: raw.mediaType, top });
}

/** Blobs first, then each manifest once its own blobs (or children) are in place, the top one last. */
async function putTree(session: CopySession, src: ImageSource, node: Node, top: boolean, tag: string | undefined): Promise<void> {
  if (node.kind === "index") {
    await Promise.all(node.children.map((c) => putChild(session, src, c, tag)));
  } else {
    const { config, layers } = node.manifest;
    await Promise.all([config, ...layers].map((d) => (keptForeign(session, d) ? keepForeign(session, d) : placeBlob(session, src, d))));
  }
  await putManifest(session, node.raw, top, tag);
}

/** A child manifest with what it needs, stored once however many indexes name it. */
function putChild(session: CopySession, src: ImageSource, node: Node, tag: string | undefined): Promise<void> {
  const key = node.raw.digest.toString();
  let placed = session.placedManifests.get(key);
  if (placed === undefined) {
    placed = putTree(session, src, node, false, tag);
    session.placedManifests.set(key, placed);
  }
  return placed;
}

/**
 * For a destination that needs uncompressed layers: layers decompressed and
 * checked against the config's diff_ids, then a new manifest describing what
 * was stored (its digest differs from the source's).
 */
async function putUncompressed(
  session: CopySession,
  src: ImageSource,
  node: Node,
  where: string,
  tag: string | undefined,
): Promise<RawManifest> {
  if (node.kind !== "manifest") throw new UnsupportedError(`${formatLocation(session.dst.location)} cannot hold an index`);
  const { config, layers } = node.manifest;
  const configBytes = await readConfig(session, src, config);
  const diffIds = parseImageConfig(configBytes, where).rootfs?.diff_ids ?? [];
  if (diffIds.length !== layers.length) {
    throw new IntegrityError(`config ${config.digest} lists ${diffIds.length} diff_ids for ${layers.length} layers at ${where}`, {
      code: "E_MANIFEST_INVALID",
      where,
    });
  }
  const [, ...placed] = await Promise.all([
    placeBlob(session, src, config),
    ...layers.map((l, i) => placeUncompressedLayer(session, src, l, Digest.parse(diffIds[i]!))),
  ]);
  const newLayers = layers.map((l, i) => ({
    mediaType: MediaType.DockerLayer,
    digest: Digest.parse(placed[i]!.digest),
    size: placed[i]!.size,
  }));
  const raw = dockerArchiveManifest(config, newLayers);
  await putManifest(session, raw, true, tag);
  return raw;
}

/** A single image's platform, from its config, checked against every platform asked for. */
async function checkImagePlatform(
  session: CopySession,
  src: ImageSource,
  manifest: ImageManifest,
  wanted: readonly Platform[],
  where: string,
): Promise<string> {
  const config = parseImageConfig(await readConfig(session, src, manifest.config), where);
  const own: Platform | undefined = configPlatform(config);
  const missing = wanted.find((p) => !platformMatches(p, own));
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
async function chooseTop(
  session: CopySession,
  src: ImageSource,
  top: RawManifest,
  wanted: readonly Platform[],
  where: string,
): Promise<TopChoice> {
  const parsed = parseRawManifest(top, where);
  const { dst } = session;
  if (parsed.kind === "manifest") {
    if (wanted.length === 0) return { raw: top };
    return { raw: top, platforms: [await checkImagePlatform(session, src, parsed, wanted, where)] };
  }
  if (!dst.capabilities.acceptsIndex) {
    const choice = pickSinglePlatform(parsed, wanted, where, formatLocation(dst.location));
    if (choice.notice) session.emit({ type: "notice", message: choice.notice });
    const raw = await fetchManifest(session, src, choice.entry, where);
    return { raw, platforms: [choice.platform], ...(choice.notice ? { notice: choice.notice } : {}) };
  }
  const selection = selectPlatforms(top, parsed, wanted, where);
  return { raw: selection.index, ...(selection.platforms ? { platforms: selection.platforms } : {}) };
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
function targetCompression(
  from: LayerCompression,
  format: ManifestFormat,
  opts: ConversionOptions,
  dst: ImageDestination,
): LayerCompression {
  const accepted = acceptedCompressions(dst);
  let to = opts.compress ?? from;
  if (to === "zstd" && format === "docker") to = "none";
  if (accepted && !accepted.includes(to)) to = "none";
  return to;
}

/** Recompresses the layers of every image in the tree that must change; returns the new layers by source digest. */
async function recompressTree(
  session: CopySession,
  src: ImageSource,
  root: Node,
  format: ManifestFormat | undefined,
  opts: ConversionOptions,
  where: string,
): Promise<Replacements> {
  const images = uniqueNodes(root).filter((n) => n.kind === "manifest");
  const out = new Map<string, NewLayer>();
  await Promise.all(
    images.map(async (n) => {
      if (n.kind !== "manifest") return;
      const family = format ?? (n.raw.mediaType.startsWith("application/vnd.docker.") ? "docker" : "oci");
      const jobs = n.manifest.layers.map((l, i) => ({ l, i, from: layerCompression(l.mediaType) }));
      // A level asked for recompresses even layers already in the target compression.
      const changes = (from: LayerCompression): boolean => {
        const to = targetCompression(from, family, opts, session.dst);
        return to !== from || (opts.compressLevel !== undefined && to === opts.compress);
      };
      // A layer kept foreign is not fetched, so not recompressed either (skopeo skips it before any conversion).
      const changing = jobs.filter((j) => j.from !== undefined && changes(j.from) && !keptForeign(session, j.l));
      if (changing.length === 0) return;
      const diffIds = parseImageConfig(await readConfig(session, src, n.manifest.config), where).rootfs?.diff_ids ?? [];
      if (diffIds.length !== n.manifest.layers.length) {
        throw new IntegrityError(
          `config ${n.manifest.config.digest} lists ${diffIds.length} diff_ids for ${n.manifest.layers.length} layers at ${where}`,
          {
            code: "E_MANIFEST_INVALID",
            where,
          },
        );
      }
      await Promise.all(
        changing.map(async ({ l, i, from }) => {
          const to = targetCompression(from!, family, opts, session.dst);
          out.set(l.digest.toString(), await recompressLayer(session, src, l, Digest.parse(diffIds[i]!), to, opts.compressLevel));
        }),
      );
    }),
  );
  return out;
}

/** The tree as the destination will hold it, with what the user should hear about it. */
function convertForDestination(
  session: CopySession,
  src: ImageSource,
  root: Node,
  format: ManifestFormat | undefined,
  replaced: Replacements,
  where: string,
): { root: Node; notice?: string; convertedFrom?: string } {
  if (format === undefined && replaced.size === 0) {
    if (session.dst.capabilities.ociLayout && hasDockerTypes(root)) {
      const notice = `the image is in Docker's manifest format, kept byte for byte (digest ${root.raw.digest}); OCI-only readers (umoci) need --manifest-format oci`;
      return { root, notice };
    }
    return { root };
  }
  const converted = convertTree(root, format, where, replaced);
  if (converted.raw.digest.equals(root.raw.digest)) return { root };
  if (src.generatedManifest) return { root: converted }; // the old digest was dray's own invention
  const what =
    replaced.size > 0 ? `${replaced.size} layer(s) recompressed` : `manifests converted to ${format === "oci" ? "OCI" : "Docker"} format`;
  const notice = `${what}: the image is now ${converted.raw.digest} (was ${root.raw.digest}); referrers of the old digest do not refer to it and are not copied`;
  return { root: converted, notice, convertedFrom: root.raw.digest.toString() };
}

/**
 * Copies the image `src` names into `dst` without committing: the part shared
 * by a single copy and `--all-tags` (where many images go into one destination).
 */
export async function transferImage(
  session: CopySession,
  src: ImageSource,
  platforms: readonly Platform[],
  opts: TransferOptions,
): Promise<ImageResult> {
  const where = formatLocation(src.location);
  const format = targetFormat(src, session.dst, opts);
  const converting = format !== undefined || opts.compress !== undefined || acceptedCompressions(session.dst) !== undefined;
  // The destination's current digest is asked for while the source resolves:
  // both are a first round trip (often with a ping) to a different place.
  const currentAsked = opts.checkCurrent ? session.track(currentDigest(session.dst, opts.tag, session.signal)) : undefined;
  const top = await session.requests(() => src.getManifest(undefined, { signal: session.signal }));
  const choice = await chooseTop(session, src, top, platforms, where);
  const extra = { ...(choice.platforms ? { platforms: choice.platforms } : {}), ...(choice.notice ? { notice: choice.notice } : {}) };
  session.emit({
    type: "manifest-resolved",
    source: where,
    digest: choice.raw.digest.toString(),
    mediaType: choice.raw.mediaType,
    ...(choice.platforms ? { platforms: choice.platforms } : {}),
  });
  // A converted image's digest is known only once its children are read.
  if (currentAsked && !converting) {
    const current = await currentAsked;
    if (current?.equals(choice.raw.digest)) {
      session.emit({ type: "up-to-date", digest: current.toString() });
      return { digest: current.toString(), mediaType: choice.raw.mediaType, manifests: 0, upToDate: true, ...extra };
    }
  }
  const expanded = await expand(session, src, choice.raw, where, 0);
  const replaced = session.dst.capabilities.needsUncompressedLayers
    ? new Map<string, NewLayer>()
    : await recompressTree(session, src, expanded, format, opts, where);
  const conversion = convertForDestination(session, src, expanded, format, replaced, where);
  const root = conversion.root;
  if (conversion.notice) {
    session.emit({ type: "notice", message: conversion.notice });
    extra.notice = extra.notice ? `${extra.notice}; ${conversion.notice}` : conversion.notice;
  }
  const converted = conversion.convertedFrom ? { convertedFrom: conversion.convertedFrom } : {};
  if (currentAsked && converting) {
    const current = await currentAsked;
    if (current?.equals(root.raw.digest)) {
      session.emit({ type: "up-to-date", digest: current.toString() });
      return { digest: current.toString(), mediaType: root.raw.mediaType, manifests: 0, upToDate: true, ...extra, ...converted };
    }
  }
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
  if (session.dst.capabilities.needsUncompressedLayers) {
    const raw = await putUncompressed(session, src, root, where, opts.tag);
    return { digest: raw.digest.toString(), mediaType: raw.mediaType, manifests: 1, upToDate: false, ...extra };
  }
  await putTree(session, src, root, true, opts.tag);
  return { digest: root.raw.digest.toString(), mediaType: root.raw.mediaType, manifests, upToDate: false, ...extra, ...converted };
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
    const result = await session.track(transferImage(session, src, opts.platforms ?? [], { checkCurrent: true, ...conversionOf(opts) }));
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

/** The conversion fields of `opts`, only those set. */
export function conversionOf(opts: ConversionOptions): ConversionOptions {
  return {
    ...(opts.manifestFormat ? { manifestFormat: opts.manifestFormat } : {}),
    ...(opts.compress ? { compress: opts.compress } : {}),
    ...(opts.compressLevel === undefined ? {} : { compressLevel: opts.compressLevel }),
  };
}
