// Test images built by code: real files tarred with tar-stream, gzipped with
// node:zlib, with correct digests, sizes and diffIDs, as Docker schema 2 /
// manifest list or OCI manifest / index. Deterministic for a given seed.
// Also two seeding helpers independent of dray's transports: pushImage (plain
// HTTP, monolithic uploads) and writeOciLayout (a minimal layout writer).
import { createCipheriv, createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { pack } from "tar-stream";
import { Digest } from "../../src/oci/digest.js";
import type { RawManifest } from "../../src/oci/manifest.js";
import { MediaType } from "../../src/oci/mediatype.js";
import { formatPlatform, parsePlatform, type Platform } from "../../src/oci/platform.js";
import { TestRegistryClient, type RegistryTarget } from "./http.js";

export type ImageFormat = "docker" | "oci";

/** One entry of a layer's tar. Directories and symlinks have no content. */
export interface FixtureFile {
  path: string;
  /** `link` is a hard link to `linkname`, an earlier entry of the same layer or a path of a lower one. */
  type?: "file" | "directory" | "symlink" | "link";
  content?: Buffer | string;
  linkname?: string;
  mode?: number;
}

export interface BuiltBlob {
  digest: Digest;
  size: number;
  mediaType: string;
  bytes: Buffer;
}

export interface BuiltLayer extends BuiltBlob {
  /** Digest of the uncompressed tar, as listed in the config's rootfs.diff_ids. */
  diffId: Digest;
  /** The uncompressed tar. */
  tar: Buffer;
  files: FixtureFile[];
}

export interface BuiltImage {
  kind: "image";
  format: ImageFormat;
  platform: Platform;
  manifest: RawManifest;
  config: BuiltBlob;
  /** The parsed config document, for assertions. */
  configDoc: Record<string, unknown>;
  layers: BuiltLayer[];
}

export interface BuiltIndex {
  kind: "index";
  format: ImageFormat;
  manifest: RawManifest;
  /** In the order of the index's `manifests`. */
  images: BuiltImage[];
}

export type Built = BuiltImage | BuiltIndex;

export interface ImageOptions {
  format?: ImageFormat;
  /** Same seed, same bytes. Default "dray". */
  seed?: string | number;
  /** `os/arch[/variant]` or a Platform; default linux/amd64. */
  platform?: Platform | string;
  /** Number of layers (default 1); ignored when `layerFiles` is given. */
  layerCount?: number;
  /** Adds a file of this many random (incompressible) bytes to every generated layer. */
  layerSize?: number;
  /** Explicit content, one array of files per layer. */
  layerFiles?: FixtureFile[][];
  /** gzip (default) or uncompressed tar layers. */
  compression?: "gzip" | "none";
  labels?: Record<string, string>;
  /** Manifest/config annotations (OCI only). */
  annotations?: Record<string, string>;
  /** JSON indentation of the manifest; non-zero gives bytes a re-serialiser would change. Default 0. */
  manifestIndent?: number;
  /** Layers to put first (e.g. a base layer shared by several images). */
  baseLayers?: BuiltLayer[];
  /** Gzip layers of exactly these sizes in bytes (each at least 4 KiB), instead of `layerCount` (for thresholds of the transfer path). */
  layerSizes?: number[];
}

export interface IndexOptions extends Omit<ImageOptions, "platform"> {
  /** Default linux/amd64, linux/arm64/v8, linux/arm/v7. */
  platforms?: Array<Platform | string>;
  /** Give every platform the same first layer (to test blob dedup and mounts). */
  sharedBaseLayer?: boolean;
}

const FIXED_MTIME = new Date("2024-01-01T00:00:00Z");
const CREATED = "2024-01-01T00:00:00Z";

/** Deterministic incompressible bytes: AES-128-CTR keystream keyed by the seed. */
export function seededBytes(seed: string, length: number): Buffer {
  const key = createHash("sha256").update(`key:${seed}`).digest().subarray(0, 16);
  const iv = createHash("sha256").update(`iv:${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv("aes-128-ctr", key, iv);
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}

function toPlatform(p: Platform | string | undefined): Platform {
  if (p === undefined) return { os: "linux", architecture: "amd64" };
  return typeof p === "string" ? parsePlatform(p) : p;
}

/** Tars files in the given order with fixed owners and times, so equal input gives equal bytes. */
export async function tarFiles(files: FixtureFile[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    p.on("data", (c: unknown) => chunks.push(c as Buffer));
    p.on("end", () => resolve(Buffer.concat(chunks)));
    p.on("error", reject);
  });
  for (const f of files) {
    const type = f.type ?? "file";
    const common = { name: f.path, mtime: FIXED_MTIME, uid: 0, gid: 0, uname: "root", gname: "root" };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (type === "directory") p.entry({ ...common, type: "directory", mode: f.mode ?? 0o755 }, cb);
      else if (type === "symlink") p.entry({ ...common, type: "symlink", linkname: f.linkname ?? "", mode: f.mode ?? 0o777 }, cb);
      else if (type === "link") p.entry({ ...common, type: "link", linkname: f.linkname ?? "", mode: f.mode ?? 0o644 }, cb);
      else p.entry({ ...common, type: "file", mode: f.mode ?? 0o644 }, Buffer.from(f.content ?? ""), cb);
    });
  }
  p.finalize();
  return await done;
}

/** The generated files of layer `i`: a folder, a text file, a small binary, a symlink, and optional random bulk. */
function defaultLayerFiles(seed: string, i: number, layerSize: number | undefined): FixtureFile[] {
  const dir = `layer${i}`;
  const files: FixtureFile[] = [
    { path: `${dir}/`, type: "directory" },
    { path: `${dir}/hello.txt`, content: `hello from layer ${i} of ${seed}\n` },
    { path: `${dir}/bin/`, type: "directory" },
    { path: `${dir}/bin/tool`, content: seededBytes(`${seed}/${i}/tool`, 512), mode: 0o755 },
    { path: `${dir}/link`, type: "symlink", linkname: "hello.txt" },
  ];
  if (layerSize !== undefined && layerSize > 0)
    files.push({ path: `${dir}/random.bin`, content: seededBytes(`${seed}/${i}/bulk`, layerSize) });
  return files;
}

export async function buildLayer(
  files: FixtureFile[],
  format: ImageFormat = "oci",
  compression: "gzip" | "none" = "gzip",
): Promise<BuiltLayer> {
  const tar = await tarFiles(files);
  // gzip's header has mtime 0 from node:zlib, so the output is stable.
  const bytes = compression === "gzip" ? gzipSync(tar, { level: 6 }) : tar;
  const mediaType =
    format === "oci"
      ? compression === "gzip"
        ? MediaType.OciLayerGzip
        : MediaType.OciLayer
      : compression === "gzip"
        ? MediaType.DockerLayerGzip
        : MediaType.DockerLayer;
  return { digest: Digest.of(bytes), size: bytes.length, mediaType, bytes, diffId: Digest.of(tar), tar, files };
}

/**
 * A gzip layer of exactly `size` bytes: one file of random bytes, stored (level 0, so the size follows the
 * input), and the gzip header's comment field (FCOMMENT, RFC 1952) padding the rest, so any size can be hit.
 */
export async function gzipLayerOfSize(seed: string, size: number, format: ImageFormat = "oci"): Promise<BuiltLayer> {
  const HEADER = 10;
  for (let payload = Math.max(0, size - 4096); ; payload += 256) {
    const files: FixtureFile[] = [{ path: "bulk.bin", content: seededBytes(seed, payload) }];
    const tar = await tarFiles(files);
    const gz = gzipSync(tar, { level: 0 });
    const pad = size - gz.length - 1; // the comment's bytes before its NUL
    if (pad < 0) throw new Error(`no gzip layer of exactly ${size} bytes: too small`);
    if (pad >= 1024) continue;
    const header = Buffer.from(gz.subarray(0, HEADER));
    header[3] = header[3]! | 0x10; // FLG.FCOMMENT
    const bytes = Buffer.concat([header, Buffer.alloc(pad, "x"), Buffer.alloc(1), gz.subarray(HEADER)]);
    const mediaType = format === "oci" ? MediaType.OciLayerGzip : MediaType.DockerLayerGzip;
    return { digest: Digest.of(bytes), size: bytes.length, mediaType, bytes, diffId: Digest.of(tar), tar, files };
  }
}

function blob(bytes: Buffer, mediaType: string): BuiltBlob {
  return { digest: Digest.of(bytes), size: bytes.length, mediaType, bytes };
}

function descriptorJson(b: { mediaType: string; size: number; digest: Digest }): Record<string, unknown> {
  return { mediaType: b.mediaType, size: b.size, digest: b.digest.toString() };
}

function rawManifest(doc: Record<string, unknown>, mediaType: string, indent: number | undefined): RawManifest {
  const bytes = Buffer.from(JSON.stringify(doc, null, indent || undefined));
  return { bytes, mediaType, digest: Digest.of(bytes) };
}

export async function buildImage(opts: ImageOptions = {}): Promise<BuiltImage> {
  const format = opts.format ?? "oci";
  const platform = toPlatform(opts.platform);
  const seed = `${opts.seed ?? "dray"}/${formatPlatform(platform)}`;
  const fileSets = opts.layerFiles ?? Array.from({ length: opts.layerCount ?? 1 }, (_, i) => defaultLayerFiles(seed, i, opts.layerSize));
  const own: BuiltLayer[] = [];
  if (opts.layerSizes) for (const [i, size] of opts.layerSizes.entries()) own.push(await gzipLayerOfSize(`${seed}/${i}`, size, format));
  else for (const files of fileSets) own.push(await buildLayer(files, format, opts.compression));
  const layers = [...(opts.baseLayers ?? []), ...own];

  const configDoc: Record<string, unknown> = {
    created: CREATED,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: {
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", `DRAY_SEED=${seed}`],
      Cmd: ["/layer0/bin/tool"],
      WorkingDir: "/",
      Labels: { "org.example.seed": seed, ...opts.labels },
    },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId.toString()) },
    history: layers.map((_, i) => ({ created: CREATED, created_by: `dray fixture layer ${i}` })),
  };
  const config = blob(Buffer.from(JSON.stringify(configDoc)), format === "oci" ? MediaType.OciConfig : MediaType.DockerConfig);
  const mediaType = format === "oci" ? MediaType.OciManifest : MediaType.DockerManifest;
  const doc: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType,
    config: descriptorJson(config),
    layers: layers.map(descriptorJson),
  };
  if (format === "oci" && opts.annotations) doc.annotations = opts.annotations;
  return { kind: "image", format, platform, manifest: rawManifest(doc, mediaType, opts.manifestIndent), config, configDoc, layers };
}

export const DEFAULT_PLATFORMS = ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"] as const;

export async function buildIndex(opts: IndexOptions = {}): Promise<BuiltIndex> {
  const format = opts.format ?? "oci";
  const platforms = (opts.platforms ?? [...DEFAULT_PLATFORMS]).map(toPlatform);
  const baseLayers = opts.sharedBaseLayer
    ? [await buildLayer(defaultLayerFiles(`${opts.seed ?? "dray"}/base`, 0, opts.layerSize).map(renameBase), format, opts.compression)]
    : opts.baseLayers;
  const images: BuiltImage[] = [];
  for (const platform of platforms) images.push(await buildImage({ ...opts, format, platform, baseLayers }));
  const mediaType = format === "oci" ? MediaType.OciIndex : MediaType.DockerManifestList;
  const doc: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType,
    manifests: images.map((img) => ({
      ...descriptorJson({ mediaType: img.manifest.mediaType, size: img.manifest.bytes.length, digest: img.manifest.digest }),
      platform: img.platform,
    })),
  };
  if (format === "oci" && opts.annotations) doc.annotations = opts.annotations;
  return { kind: "index", format, manifest: rawManifest(doc, mediaType, opts.manifestIndent), images };
}

function renameBase(f: FixtureFile): FixtureFile {
  return { ...f, path: f.path.replace(/^layer0/, "base") };
}

/** Every image of a build: the image itself, or the index's children. */
export function imagesOf(built: Built): BuiltImage[] {
  return built.kind === "image" ? [built] : built.images;
}

/** Every blob (configs and layers) once, in push order. */
export function blobsOf(built: Built): BuiltBlob[] {
  const seen = new Map<string, BuiltBlob>();
  for (const img of imagesOf(built)) {
    for (const b of [...img.layers, img.config]) if (!seen.has(b.digest.toString())) seen.set(b.digest.toString(), b);
  }
  return [...seen.values()];
}

/** Every manifest, children before the index that lists them. */
export function manifestsOf(built: Built): RawManifest[] {
  return built.kind === "image" ? [built.manifest] : [...built.images.map((i) => i.manifest), built.manifest];
}

/**
 * Seeds a registry without dray: blobs by monolithic POST+PUT, children
 * manifests by digest, then the top manifest under `tag` (or only by digest
 * when tag is undefined). Works through a proxy too (pass its target).
 */
export async function pushImage(registry: RegistryTarget, repo: string, tag: string | undefined, built: Built): Promise<Digest> {
  const client = new TestRegistryClient(registry);
  try {
    for (const b of blobsOf(built)) await client.pushBlob(repo, b.digest.toString(), b.bytes);
    const all = manifestsOf(built);
    for (const m of all.slice(0, -1)) await client.putManifest(repo, m.digest.toString(), m.mediaType, m.bytes);
    const top = all[all.length - 1]!;
    await client.putManifest(repo, tag ?? top.digest.toString(), top.mediaType, top.bytes);
    return top.digest;
  } finally {
    await client.close();
  }
}

interface LayoutIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Array<Record<string, unknown>>;
}

const REF_NAME = "org.opencontainers.image.ref.name";

/**
 * Writes `built` into an OCI image layout at `dir` (created if needed): every
 * blob and manifest under blobs/, and an entry in index.json named `tag` (an
 * entry with the same name is replaced; without tag the entry has no name).
 */
export async function writeOciLayout(dir: string, built: Built, tag?: string): Promise<Digest> {
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const writes = [
    ...blobsOf(built).map((b) => [b.digest, b.bytes] as const),
    ...manifestsOf(built).map((m) => [m.digest, m.bytes] as const),
  ];
  for (const [digest, bytes] of writes) await writeFile(join(dir, digest.blobPath), bytes);
  let index: LayoutIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
  try {
    index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as LayoutIndex;
  } catch {
    // no index yet
  }
  const top = built.manifest;
  const entry: Record<string, unknown> = { mediaType: top.mediaType, digest: top.digest.toString(), size: top.bytes.length };
  if (tag !== undefined) {
    entry.annotations = { [REF_NAME]: tag };
    index.manifests = index.manifests.filter((m) => (m.annotations as Record<string, string> | undefined)?.[REF_NAME] !== tag);
  }
  index.manifests.push(entry);
  await writeFile(join(dir, "index.json"), JSON.stringify(index));
  return top.digest;
}
