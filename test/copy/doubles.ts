// In-memory peers for the copy engine's unit tests. The engine is the thing
// under test; these stand in for the transports it talks to, implementing the
// contracts of src/transport/types.ts literally (staged writes until commit,
// putBlob consuming and checking the stream) and recording every call.
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { gzipSync } from "node:zlib";
import { Digest } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/mediatype.js";
import { descriptorToJSON, rawManifestFromDocument, type Descriptor, type RawManifest } from "../../src/oci/manifest.js";
import type { Platform } from "../../src/oci/platform.js";
import type { LayoutLocation, Location } from "../../src/ref/location.js";
import type { BlobReadOptions, DestinationCapabilities, ImageDestination, ImageSource } from "../../src/transport/types.js";

export interface TestImage {
  manifest: RawManifest;
  config: { desc: Descriptor; bytes: Buffer };
  layers: Array<{ desc: Descriptor; bytes: Buffer; uncompressed: Buffer }>;
  platform: Platform;
}

/** Deterministic incompressible bytes (SHA-256 in counter mode), so layers of different seeds never collide. */
export function bytesOf(seed: string, size: number): Buffer {
  const blocks: Buffer[] = [];
  for (let i = 0; i * 32 < size; i++) blocks.push(createHash("sha256").update(`${seed}/${i}`).digest());
  return Buffer.concat(blocks).subarray(0, size);
}

function desc(mediaType: string, bytes: Buffer): Descriptor {
  return { mediaType, digest: Digest.of(bytes), size: bytes.length };
}

/** A gzipped layer of given content (shared content gives the same digest). */
export function layer(content: Buffer): { desc: Descriptor; bytes: Buffer; uncompressed: Buffer } {
  const bytes = gzipSync(content);
  return { desc: desc(MediaType.OciLayerGzip, bytes), bytes, uncompressed: content };
}

export function image(platform: Platform, layers: Array<ReturnType<typeof layer>>): TestImage {
  const configDoc = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    rootfs: { type: "layers", diff_ids: layers.map((l) => Digest.of(l.uncompressed).toString()) },
  };
  const configBytes = Buffer.from(JSON.stringify(configDoc));
  const config = { desc: desc(MediaType.OciConfig, configBytes), bytes: configBytes };
  const manifest = rawManifestFromDocument(
    {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: descriptorToJSON(config.desc),
      layers: layers.map((l) => descriptorToJSON(l.desc)),
    },
    MediaType.OciManifest,
  );
  return { manifest, config, layers, platform };
}

export function index(images: TestImage[], annotations?: Record<string, string>): RawManifest {
  return rawManifestFromDocument(
    {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: images.map((i) => ({
        ...descriptorToJSON({ mediaType: MediaType.OciManifest, digest: i.manifest.digest, size: i.manifest.bytes.length }),
        platform: i.platform,
      })),
      ...(annotations ? { annotations } : {}),
    },
    MediaType.OciIndex,
  );
}

export const LOC_SRC: LayoutLocation = { transport: "oci", path: "/memory/src", ref: { kind: "tag", tag: "v1" } };
export const LOC_DST: LayoutLocation = { transport: "oci", path: "/memory/dst", ref: { kind: "tag", tag: "v1" } };

export interface SourceBehaviour {
  /** Bytes per chunk the blob streams yield (default 16 KiB). */
  chunk?: number;
  /** Delay between chunks, to keep transfers in flight. */
  delayMs?: number;
  /** Blobs served with their last byte flipped (a corrupt source). */
  corrupt?: Set<string>;
  /** Called when a blob stream yields its first chunk. */
  onFirstChunk?: (digest: string) => void;
}

export class MemorySource implements ImageSource {
  readonly manifests = new Map<string, RawManifest>();
  readonly blobs = new Map<string, Buffer>();
  readonly blobReads: string[] = [];
  readonly manifestReads: Array<string | undefined> = [];
  private readonly streams: Readable[] = [];
  closed = 0;

  constructor(
    private readonly top: RawManifest,
    images: TestImage[],
    readonly behaviour: SourceBehaviour = {},
    readonly location: Location = LOC_SRC,
  ) {
    this.manifests.set(top.digest.toString(), top);
    for (const img of images) {
      this.manifests.set(img.manifest.digest.toString(), img.manifest);
      this.blobs.set(img.config.desc.digest.toString(), img.config.bytes);
      for (const l of img.layers) this.blobs.set(l.desc.digest.toString(), l.bytes);
    }
  }

  async getManifest(digest?: Digest): Promise<RawManifest> {
    this.manifestReads.push(digest?.toString());
    const m = this.manifests.get((digest ?? this.top.digest).toString());
    if (!m) throw new Error(`no manifest ${digest}`);
    return m;
  }

  async getBlob(d: Descriptor, opts?: BlobReadOptions): Promise<Readable> {
    const key = d.digest.toString();
    this.blobReads.push(key);
    let bytes = this.blobs.get(key);
    if (!bytes) throw new Error(`no blob ${key}`);
    if (this.behaviour.corrupt?.has(key)) {
      bytes = Buffer.from(bytes);
      bytes[bytes.length - 1] ^= 0xff;
    }
    const { chunk = 16 * 1024, delayMs = 0, onFirstChunk } = this.behaviour;
    const data = bytes;
    async function* chunks(): AsyncGenerator<Buffer> {
      for (let i = 0; i < data.length; i += chunk) {
        if (i === 0) onFirstChunk?.(key);
        if (delayMs > 0) await sleep(delayMs, undefined, opts?.signal ? { signal: opts.signal } : {});
        yield data.subarray(i, i + chunk);
      }
    }
    const stream = Readable.from(chunks(), { objectMode: false });
    this.streams.push(stream);
    opts?.signal?.addEventListener("abort", () => stream.destroy(opts.signal?.reason as Error), { once: true });
    return stream;
  }

  /** Streams handed out that were neither read to the end nor destroyed. */
  get openStreams(): number {
    return this.streams.filter((s) => !s.destroyed && !s.readableEnded).length;
  }

  async close(): Promise<void> {
    this.closed++;
  }
}

export type Op =
  | { op: "putBlob"; digest: string }
  | { op: "mountBlob"; digest: string }
  | { op: "putManifest"; digest: string; isTop: boolean; tag?: string }
  | { op: "commit" }
  | { op: "abort" };

export const REGISTRY_LIKE: DestinationCapabilities = {
  needsUncompressedLayers: false,
  acceptsIndex: true,
  preservesDigests: true,
  supportsMount: false,
  concurrentPutBlob: true,
};

export const DOCKER_ARCHIVE_LIKE: DestinationCapabilities = {
  needsUncompressedLayers: true,
  acceptsIndex: false,
  preservesDigests: false,
  supportsMount: false,
  concurrentPutBlob: false,
};

export class MemoryDestination implements ImageDestination {
  /** Visible state: what a reader sees (only changed by commit). */
  readonly blobs = new Map<string, Buffer>();
  readonly manifests = new Map<string, RawManifest>();
  readonly tags = new Map<string, string>();
  /** Written since opening, not yet committed. */
  private readonly stagedBlobs = new Map<string, Buffer>();
  private readonly stagedManifests = new Map<string, RawManifest>();
  private readonly stagedTags = new Map<string, string>();
  readonly ops: Op[] = [];
  readonly hasBlobCalls: string[] = [];
  /** Blobs that mountBlob succeeds for (as if present in another repository of the registry). */
  readonly mountable = new Set<string>();
  /** Descriptors given to putBlob, in call order. */
  readonly putBlobDescs: Descriptor[] = [];
  activePuts = 0;
  maxActivePuts = 0;
  current: Digest | undefined;
  mountBlob?: (d: Descriptor, from: Location) => Promise<boolean>;

  constructor(
    readonly capabilities: DestinationCapabilities = REGISTRY_LIKE,
    readonly location: Location = LOC_DST,
  ) {
    if (capabilities.supportsMount) {
      this.mountBlob = async (d: Descriptor): Promise<boolean> => {
        this.ops.push({ op: "mountBlob", digest: d.digest.toString() });
        if (!this.mountable.has(d.digest.toString())) return false;
        this.stagedBlobs.set(d.digest.toString(), Buffer.alloc(0));
        return true;
      };
    }
  }

  async currentDigest(): Promise<Digest | undefined> {
    return this.current;
  }

  async hasBlob(d: Descriptor): Promise<boolean> {
    const key = d.digest.toString();
    this.hasBlobCalls.push(key);
    return this.blobs.has(key) || this.stagedBlobs.has(key);
  }

  async putBlob(d: Descriptor, data: Readable, opts?: BlobReadOptions): Promise<void> {
    this.putBlobDescs.push(d);
    this.activePuts++;
    this.maxActivePuts = Math.max(this.maxActivePuts, this.activePuts);
    try {
      const chunks: Buffer[] = [];
      for await (const c of data) {
        opts?.signal?.throwIfAborted();
        chunks.push(c as Buffer);
      }
      const bytes = Buffer.concat(chunks);
      // The contract: a blob becomes visible only after its stream ended cleanly.
      this.stagedBlobs.set(d.digest.toString(), bytes);
      this.ops.push({ op: "putBlob", digest: d.digest.toString() });
    } finally {
      this.activePuts--;
    }
  }

  async putManifest(m: RawManifest, opts?: { tag?: string; isTop?: boolean }): Promise<void> {
    const isTop = opts?.isTop === true;
    this.ops.push({ op: "putManifest", digest: m.digest.toString(), isTop, ...(opts?.tag ? { tag: opts.tag } : {}) });
    this.stagedManifests.set(m.digest.toString(), m);
    if (isTop) this.stagedTags.set(opts?.tag ?? "(location)", m.digest.toString());
  }

  async commit(): Promise<void> {
    this.ops.push({ op: "commit" });
    for (const [k, v] of this.stagedBlobs) this.blobs.set(k, v);
    for (const [k, v] of this.stagedManifests) this.manifests.set(k, v);
    for (const [k, v] of this.stagedTags) this.tags.set(k, v);
    this.discard();
  }

  async abort(): Promise<void> {
    this.ops.push({ op: "abort" });
    this.discard();
  }

  private discard(): void {
    this.stagedBlobs.clear();
    this.stagedManifests.clear();
    this.stagedTags.clear();
  }

  /** Preloads a blob as if an earlier copy had stored it. */
  preload(digest: Digest, bytes: Buffer): void {
    this.blobs.set(digest.toString(), bytes);
  }

  opsOf(kind: Op["op"]): Op[] {
    return this.ops.filter((o) => o.op === kind);
  }
}
