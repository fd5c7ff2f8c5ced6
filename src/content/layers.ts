// Reading an image's layers as tar entries: the blob verified against its
// digest while it streams, decompressed (judged by its first bytes, since
// docker-archive layers and some registries' media types do not say), capped
// against decompression bombs, and parsed by tar-stream one entry at a time.
import { once } from "node:events";
import { pipeline, Transform, type Duplex, type Readable, type TransformCallback } from "node:stream";
import * as tar from "tar-stream";
import { IntegrityError } from "../errors.js";
import { VerifyingStream } from "../oci/digest.js";
import { createDecompressor } from "../oci/compression.js";
import { decompressionLimit, SizeCap } from "../oci/decompress.js";
import type { Descriptor, ImageManifest } from "../oci/manifest.js";
import { layerCompression, MediaType } from "../oci/mediatype.js";
import type { Platform } from "../oci/platform.js";
import { resolveImage } from "../image/resolve.js";
import { formatLocation } from "../ref/location.js";
import type { ImageSource } from "../transport/types.js";

/** A tar header as tar-stream gives it, with the PAX records it parsed (xattrs, long names, sub-second times). */
export type TarHeader = Omit<tar.Header, "pax"> & { pax?: Record<string, string> | null };

/** One entry of a layer tar: its header and a stream of its body. */
export type TarEntry = tar.Extract extends AsyncIterable<infer S> ? S : never;

/** One layer of an image, bottom layer first in `ImageLayers.layers`. */
export interface LayerRef {
  /** 0 for the bottom layer. */
  index: number;
  descriptor: Descriptor;
  /** For messages: `LOC layer 2 (sha256:…)`. */
  where: string;
}

export interface ImageLayers {
  manifest: ImageManifest;
  layers: LayerRef[];
}

/**
 * The layers of the image LOC names; from an index, the `platform` entry,
 * else this machine's (as `inspect --config`, skopeo and docker do).
 */
export async function imageLayers(source: ImageSource, platform: Platform | undefined, signal?: AbortSignal): Promise<ImageLayers> {
  const { resolved, manifest } = await resolveImage(source, platform, signal);
  const at = formatLocation(source.location);
  refuseArtifact(manifest, resolved.chosen.digest.toString(), at);
  const layers = manifest.layers.map((descriptor, index) => ({
    index,
    descriptor,
    where: `${at} layer ${index + 1} (${descriptor.digest})`,
  }));
  return { manifest, layers };
}

const IMAGE_CONFIG_TYPES: readonly string[] = [MediaType.OciConfig, MediaType.DockerConfig];

/**
 * export and cat read a root filesystem, which only a container image has: an
 * artifact (a Helm chart, an SBOM, a signature) is refused before any layer
 * is read (E_UNSUPPORTED_MEDIA_TYPE, exit 5), judged as containerd and umoci
 * judge an image: an image config, and every layer a (compressed) tar. A Helm
 * chart's layer is a .tgz, so the config is what tells.
 */
function refuseArtifact(m: ImageManifest, digest: string, at: string): void {
  const what =
    m.artifactType ??
    (IMAGE_CONFIG_TYPES.includes(m.config.mediaType)
      ? m.layers.find((l) => layerCompression(l.mediaType) === undefined)?.mediaType
      : m.config.mediaType);
  if (what === undefined) return;
  throw new IntegrityError(`${digest} is an artifact (${what}), not a container image: it has no filesystem to read (${at})`, {
    code: "E_UNSUPPORTED_MEDIA_TYPE",
    where: at,
  });
}

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

function startsWith(head: Buffer, magic: readonly number[]): boolean {
  return magic.every((b, i) => head[i] === b);
}

/** The decompressor the first bytes call for (copy's own, so every command reads zstd on every Node), or none for a plain tar. */
function decompressorFor(head: Buffer): Duplex | undefined {
  if (startsWith(head, GZIP_MAGIC)) return createDecompressor("gzip");
  if (startsWith(head, ZSTD_MAGIC)) return createDecompressor("zstd");
  return undefined;
}

/** Waits for the first bytes of `input` and puts them back, so the format can be judged before anything is consumed. */
async function peek(input: Readable): Promise<Buffer> {
  for (;;) {
    const head = input.read() as Buffer | null;
    if (head) {
      input.unshift(head);
      return head;
    }
    if (input.readableEnded || input.destroyed) return Buffer.alloc(0);
    await Promise.race([once(input, "readable"), once(input, "end")]);
  }
}

/** Chains streams so that an error anywhere destroys the last one with it (its reader sees the cause). */
function chain(streams: [Readable, ...Duplex[]]): Readable {
  if (streams.length === 1) return streams[0];
  const last = streams[streams.length - 1] as Duplex;
  pipeline(streams, (err) => {
    if (err) last.destroy(err);
  });
  return last;
}

/** The layer's uncompressed tar bytes: verified against the descriptor's digest and size, and capped in size. */
export async function openLayerTar(source: ImageSource, layer: LayerRef, signal?: AbortSignal): Promise<Readable> {
  const { descriptor, where } = layer;
  const raw = await source.getBlob(descriptor, signal ? { signal } : {});
  const verified = chain([raw, new VerifyingStream({ digest: descriptor.digest, size: descriptor.size, where })]);
  const head = await peek(verified);
  const inflate = decompressorFor(head);
  if (!inflate) return verified;
  return chain([verified, inflate, new SizeCap(decompressionLimit(descriptor.size), where)]);
}

const TAR_BLOCK = 512;

/**
 * Completes a tar that stops without its end-of-archive blocks, or even
 * without the padding of its last file: umoci 0.4.7 writes layers so (a
 * 4-byte file gives a 516-byte tar), and Go's archive/tar, which docker,
 * containerd and umoci read layers with, takes the end of the bytes for the
 * end of the archive. The layer's digest was verified, so these are the
 * publisher's bytes, not a cut transfer. A tar that already ends properly
 * gets two more zero blocks, which tar-stream reads past.
 */
class TarEnd extends Transform {
  private bytes = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    const padding = (TAR_BLOCK - (this.bytes % TAR_BLOCK)) % TAR_BLOCK;
    done(null, Buffer.alloc(padding + 2 * TAR_BLOCK));
  }
}

/**
 * The entries of a layer tar. Each entry's body MUST be read or resumed
 * before the next one comes (tar-stream's rule); breaking out of the loop
 * destroys the layer stream and releases its connection or file.
 */
export function tarEntries(layerTar: Readable): AsyncIterable<TarEntry> {
  const extract = tar.extract();
  pipeline(layerTar, new TarEnd(), extract, (err) => {
    if (err) extract.destroy(err);
  });
  return extract;
}
