// `dray append BASE --layer PATH… -t DST`: layers added on top of an image
// (every platform of an index, or those chosen) or of `scratch`. Each layer
// is packed once and shared by every platform; configs get the diff_ids and
// a history entry; the result is written through the copy engine.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CopySummary } from "../copy/types.js";
import type { ManifestFormat } from "../copy/convert.js";
import { UsageError } from "../errors.js";
import { Digest } from "../oci/digest.js";
import { descriptorToJSON, rawManifestFromDocument } from "../oci/manifest.js";
import { MediaType, type LayerCompression } from "../oci/mediatype.js";
import type { Platform } from "../oci/platform.js";
import { formatLocation, type Location } from "../ref/location.js";
import { openSource } from "../transport/index.js";
import type { ImageSource } from "../transport/types.js";
import { layerLabel, packLayer, type PackedLayer } from "./layer.js";
import { rewriteImages, type ImageDocs, type ManifestChange } from "./rewrite.js";
import { ComposedSource } from "./source.js";
import { fromEpoch } from "./time.js";
import { asLocation, checkDestination, writeComposed, type AssembleOptions } from "./write.js";
import { defined } from "../defined.js";

/** The base that is no image: an empty root filesystem. */
export const SCRATCH = "scratch";

export interface AppendOptions extends AssembleOptions {
  /** Files to add as layers, bottom first: tars, gzip/zstd tars, or folders. */
  layers: string[];
  /** Platforms of an index BASE to change (default all); for `scratch`, the one platform to make. */
  platforms?: Platform[];
  /** Stored compression of the new layers (default gzip). */
  compress?: LayerCompression;
  compressLevel?: number;
  /** Keep the uid/gid of a folder's files (default 0:0). */
  keepOwner?: boolean;
  /** RFC 3339: the config's `created`, the history entries' and (as a time) every packed entry's. Default: files at 1970, `created` unchanged. */
  created?: string;
  /** For `scratch`: the manifest format (default OCI). */
  manifestFormat?: ManifestFormat;
  /** Where layers are spooled while they are written (default the system's temporary folder). */
  tmpDir?: string;
}

export interface AppendedLayer {
  path: string;
  from: PackedLayer["from"];
  digest: string;
  diffId: string;
  size: number;
  mediaType: string;
}

export interface AppendResult {
  base: string;
  destination: string;
  digest: string;
  /** The base's digest (null for scratch). */
  previousDigest: string | null;
  mediaType: string;
  layers: AppendedLayer[];
  manifests: ManifestChange[];
  copy: CopySummary;
}

/** Adds layers on top of `base` (a location or "scratch") and writes the result to `dst`. */
export async function append(base: Location | string, dst: Location | string, opts: AppendOptions): Promise<AppendResult> {
  const scratch = base === SCRATCH;
  const dstLoc = asLocation(dst);
  await checkDestination(dstLoc, false, "append", scratch ? [] : [asLocation(base)]);
  if (opts.layers.length === 0) throw new UsageError("append: give at least one --layer PATH");
  if (scratch && opts.platforms?.length !== 1) throw new UsageError("append: scratch needs one --platform OS/ARCH[/VARIANT]");
  if (!scratch && opts.manifestFormat) throw new UsageError("append: --manifest-format goes with scratch only (the base's format is kept)");
  if (opts.compress === "zstd" && opts.manifestFormat === "docker")
    throw new UsageError("append: Docker's manifest format has no zstd layers");
  // The process id in the name, as the other temporaries have it, says whose it is after a SIGKILL.
  const spool = await mkdtemp(join(opts.tmpDir ?? tmpdir(), `dray-append-${process.pid}-`));
  const source: ImageSource = scratch ? scratchImage(opts.platforms![0]!, dstLoc, opts) : await openSource(asLocation(base), opts.source);
  try {
    const mtime = opts.created ? new Date(opts.created) : new Date(0);
    const packed: PackedLayer[] = [];
    // One after another: each spools to disk, and their order is the image's.
    for (const [i, path] of opts.layers.entries()) {
      packed.push(
        await packLayer(path, spool, i, {
          mtime,
          ...defined({ compress: opts.compress, compressLevel: opts.compressLevel }),
          ...(opts.keepOwner ? { keepOwner: true } : {}),
          ...defined({ signal: opts.signal }),
        }),
      );
    }
    const rewritten = await rewriteImages(
      source,
      dstLoc,
      scratch ? [] : (opts.platforms ?? []),
      { image: (docs) => addLayers(docs, packed, opts.created) },
      opts.signal,
    );
    for (const l of packed) rewritten.composed.addBlobFile(l.digest, l.file);
    const copy = await writeComposed(rewritten.composed, dstLoc, opts);
    const family = rewritten.top.mediaType.startsWith("application/vnd.docker.") ? "docker" : "oci";
    return {
      base: scratch ? SCRATCH : formatLocation(source.location),
      destination: formatLocation(dstLoc),
      // What the destination stored: a docker-archive keeps one platform of an index, in its own manifest.
      digest: copy.digest,
      previousDigest: scratch ? null : rewritten.previous.digest.toString(),
      mediaType: copy.mediaType,
      layers: packed.map((l) => ({
        path: l.path,
        from: l.from,
        digest: l.digest.toString(),
        diffId: l.diffId.toString(),
        size: l.size,
        mediaType: layerType(family === "docker" ? MediaType.DockerManifest : MediaType.OciManifest, l.compression),
      })),
      // The made-up scratch image is no "before".
      manifests: scratch ? rewritten.changes.map((c) => ({ ...c, from: "" })) : rewritten.changes,
      copy,
    };
  } finally {
    await source.close();
    await rm(spool, { recursive: true, force: true });
  }
}

/** The layer media type of a manifest's family. */
function layerType(manifestType: string, compression: LayerCompression): string {
  if (manifestType === MediaType.DockerManifest) {
    if (compression === "zstd")
      throw new UsageError("append: the base is in Docker's manifest format, which has no zstd layers; use --compress gzip");
    return compression === "gzip" ? MediaType.DockerLayerGzip : MediaType.DockerLayer;
  }
  return { none: MediaType.OciLayer, gzip: MediaType.OciLayerGzip, zstd: MediaType.OciLayerZstd }[compression];
}

function addLayers(docs: ImageDocs, packed: readonly PackedLayer[], created: string | undefined): void {
  const layers = (docs.manifest.layers as unknown[] | undefined) ?? [];
  docs.manifest.layers = [
    ...layers,
    ...packed.map((l) => descriptorToJSON({ mediaType: layerType(docs.mediaType, l.compression), digest: l.digest, size: l.size })),
  ];
  const rootfs = (docs.config.rootfs as { type?: string; diff_ids?: string[] } | undefined) ?? {};
  docs.config.rootfs = {
    ...rootfs,
    type: rootfs.type ?? "layers",
    diff_ids: [...(rootfs.diff_ids ?? []), ...packed.map((l) => l.diffId.toString())],
  };
  const history = (docs.config.history as unknown[] | undefined) ?? [];
  docs.config.history = [
    ...history,
    ...packed.map((l) => ({ ...(created ? { created } : {}), created_by: layerLabel(l), comment: "dray append" })),
  ];
  if (created) docs.config.created = created;
}

/** An image with no layers for `platform`, served from memory, to append onto. */
function scratchImage(platform: Platform, name: Location, opts: AppendOptions): ComposedSource {
  const docker = opts.manifestFormat === "docker";
  const config = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    created: opts.created ?? fromEpoch(0),
    config: {},
    rootfs: { type: "layers", diff_ids: [] },
    history: [],
  };
  const bytes = Buffer.from(JSON.stringify(config));
  const digest = Digest.of(bytes);
  const mediaType = docker ? MediaType.DockerManifest : MediaType.OciManifest;
  const manifest = rawManifestFromDocument(
    {
      schemaVersion: 2,
      mediaType,
      config: { mediaType: docker ? MediaType.DockerConfig : MediaType.OciConfig, digest: digest.toString(), size: bytes.length },
      layers: [],
    },
    mediaType,
  );
  const source = new ComposedSource(name, manifest);
  source.addBlob(digest, bytes);
  return source;
}
