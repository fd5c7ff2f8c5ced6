// A docker-archive as an ImageSource. Reads both the legacy `docker save`
// layout (`<id>/layer.tar`, `<hex>.json`, symlinks between layer folders) and
// Docker 25+ archives (also an OCI layout: manifest.json points into
// blobs/sha256/). The image is exposed through a Docker schema 2 manifest
// generated here (deterministic bytes) whose layer digests come from hashing
// the layer files; uncompressed layers are checked against the config's
// diff_ids at once, gzip layers while they are read (see DiffIdCheck).
// Docker 25+ archives also carry the OCI manifest: when index.json describes
// the image, it is served as stored (see docker-oci.ts) and nothing is
// generated, so the image keeps its digest.
import type { Readable } from "node:stream";
import { IntegrityError, NotFoundError, UnsupportedError, UsageError } from "../../errors.js";
import { Digest, Digester, VerifyingStream } from "../../oci/digest.js";
import { dockerArchiveManifest, MAX_CONFIG_BYTES, parseImageConfig, type Descriptor, type RawManifest } from "../../oci/manifest.js";
import { MediaType } from "../../oci/mediatype.js";
import type { DockerArchiveLocation } from "../../ref/location.js";
import { familiarReference, formatReference, type ImageReference } from "../../ref/reference.js";
import type { BlobReadOptions, ImageSource, TransportOptions } from "../types.js";
import { DiffIdCheck } from "../../oci/decompress.js";
import {
  MAX_MANIFEST_JSON_BYTES,
  formatRepoTag,
  parseManifestJson,
  parseRepoTag,
  repoTagMatches,
  type ManifestItem,
} from "./docker-format.js";
import { verifiedStream } from "./oci-archive.js";
import { spoolInput } from "./staging.js";
import { TarIndex, type TarEntry } from "./tar-index.js";
import { entriesForReference, findOciImage, readArchiveIndex } from "./docker-oci.js";
import { ArchiveBlobs } from "./oci-archive.js";
import { parseManifest } from "../../oci/manifest.js";
import { defined } from "../../defined.js";

type Compression = "none" | "gzip";

interface Layer {
  entry: TarEntry;
  digest: Digest;
  size: number;
  compression: Compression;
  diffId: Digest;
}

interface Built {
  manifest: RawManifest;
  config: { bytes: Buffer; digest: Digest };
  layers: Map<string, Layer>;
}

/** An opened docker-archive: the tar index and its manifest.json. */
export interface OpenedDockerArchive {
  tar: TarIndex;
  items: ManifestItem[];
  /** How the archive is named in messages. */
  where: string;
  cleanup: () => Promise<void>;
}

export async function openDockerArchive(loc: DockerArchiveLocation, opts: TransportOptions): Promise<OpenedDockerArchive> {
  const spooled = loc.path === "-" ? await spoolInput(opts.stdin, opts) : undefined;
  const where = loc.path === "-" ? "docker-archive:-" : loc.path;
  try {
    const tar = await TarIndex.open(spooled?.file ?? loc.path);
    if (!tar.has("manifest.json")) throw new NotFoundError(`${where} is not a docker archive (no manifest.json)`, { where });
    const bytes = await tar.readBytes(tar.resolveFile("manifest.json", "manifest.json", true), MAX_MANIFEST_JSON_BYTES, "manifest.json");
    const items = parseManifestJson(bytes, where);
    return { tar, items, where, cleanup: spooled?.cleanup ?? (async () => undefined) };
  } catch (err) {
    await spooled?.cleanup();
    throw err;
  }
}

/** The image the location picks: the `@N`-th, the one whose RepoTags hold loc.ref, else the only one. */
export function pickImage(archive: OpenedDockerArchive, loc: DockerArchiveLocation): ManifestItem {
  const { items, where } = archive;
  if (loc.index !== undefined) {
    const item = items[loc.index];
    if (item) return item;
    const holds =
      items.length === 0 ? "no image" : items.length === 1 ? "one image (@0)" : `${items.length} images (@0 to @${items.length - 1})`;
    throw new NotFoundError(`image @${loc.index} not found in ${where}: it holds ${holds}`, { where });
  }
  if (loc.ref) {
    const ref = loc.ref;
    const found = items.filter((i) => i.RepoTags.some((t) => repoTagMatches(t, ref)));
    if (found.length === 0) throw notInArchive(items, where, ref);
    if (found.length > 1)
      throw new IntegrityError(`${where} names ${found.length} images ${formatReference(ref)}`, { code: "E_MANIFEST_INVALID", where });
    return found[0]!;
  }
  if (items.length === 1) return items[0]!;
  if (items.length === 0) throw new NotFoundError(`${where} holds no image`, { where });
  const tags = items.flatMap((i) => i.RepoTags).slice(0, 20);
  throw new UsageError(`${where} holds ${items.length} images; name one as docker-archive:${where}:NAME:TAG (${tags.join(", ")})`, {
    code: "E_USAGE",
    where,
  });
}

/**
 * A RepoTag the archive lacks, named as `docker save` writes it. A NAME
 * without a tag means NAME:latest (as skopeo and docker read it), which the
 * message says, pointing at the one tag of that repository when there is one.
 */
function notInArchive(items: ManifestItem[], where: string, ref: ImageReference): NotFoundError {
  const tags = items.flatMap((i) => i.RepoTags);
  const have = tags.length > 0 ? ` (it has: ${tags.slice(0, 20).join(", ")}${tags.length > 20 ? ", …" : ""})` : "";
  if (ref.tag !== undefined) return new NotFoundError(`${formatRepoTag(ref)} not found in ${where}${have}`, { where });
  const repository = familiarReference({ domain: ref.domain, path: ref.path });
  const sameRepository = tags.filter((t) => {
    const parsed = parseRepoTag(t);
    return parsed !== undefined && familiarReference({ domain: parsed.domain, path: parsed.path }) === repository;
  });
  const location = where.startsWith("docker-archive:") ? where : `docker-archive:${where}`; // `-` is named docker-archive:- already
  const hint = sameRepository.length === 1 ? `; that one is ${location}:${sameRepository[0]!}` : "";
  return new NotFoundError(`${repository}:latest not found in ${where}: a NAME without :TAG means NAME:latest${have}${hint}`, { where });
}

const BLOB_PATH_RE = /^blobs\/(sha256|sha512)\/([a-f0-9]+)$/;

/** For a Docker 25+ path `blobs/ALG/HEX`, the digest its name promises. */
function promisedDigest(path: string): Digest | undefined {
  const m = BLOB_PATH_RE.exec(path);
  return m ? Digest.tryParse(`${m[1]}:${m[2]}`) : undefined;
}

function checkPromise(path: string, actual: Digest, where: string): void {
  const promised = promisedDigest(path);
  if (promised && !promised.equals(actual)) {
    throw new IntegrityError(`${path} in ${where} has digest ${actual}, not the one its name promises`, {
      code: "E_DIGEST_MISMATCH",
      where,
    });
  }
}

/** Hashes an entry, noting from its first bytes whether it is gzip (1f 8b) or zstd. */
async function hashEntry(tar: TarIndex, entry: TarEntry, where: string): Promise<{ digest: Digest; compression: Compression }> {
  const digester = new Digester("sha256");
  let head: Buffer | undefined;
  for await (const chunk of tar.stream(entry) as AsyncIterable<Buffer>) {
    if (head === undefined || head.length < 4) head = Buffer.concat([head ?? Buffer.alloc(0), chunk.subarray(0, 4)]);
    digester.update(chunk);
  }
  if (head && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) {
    throw new UnsupportedError(`layer ${entry.name} in ${where} is zstd-compressed, which a Docker schema 2 image cannot describe`, {
      where,
    });
  }
  const compression: Compression = head && head[0] === 0x1f && head[1] === 0x8b ? "gzip" : "none";
  return { digest: digester.digest(), compression };
}

/** The foreign layer descriptor manifest.json's LayerSources gives the layer with `diffId`, if any (docker save writes them). */
function foreignLayer(item: ManifestItem, diffId: Digest, where: string): Descriptor | undefined {
  const src = item.LayerSources?.[diffId.toString()];
  if (!src) return undefined;
  const digest = Digest.tryParse(src.digest);
  if (!digest)
    throw new IntegrityError(`LayerSources of ${diffId} in ${where} names an invalid digest`, { code: "E_MANIFEST_INVALID", where });
  return {
    mediaType: src.mediaType,
    size: src.size,
    digest,
    ...(src.urls && src.urls.length > 0 ? { urls: src.urls } : {}),
  };
}

/** A Docker 25+ image read through index.json: its own manifest and blobs. */
interface OciImage {
  blobs: ArchiveBlobs;
  top: Descriptor;
}

/** The index.json image of `item` (by its config), when the archive is also an OCI layout that describes it. */
export async function ociImageOf(
  archive: OpenedDockerArchive,
  item: ManifestItem | undefined,
  ref: DockerArchiveLocation["ref"],
): Promise<OciImage | undefined> {
  const index = await readArchiveIndex(archive.tar, archive.where);
  if (!index) return undefined;
  const blobs = new ArchiveBlobs(archive.tar, archive.where);
  if (!item) {
    const top = ref ? entriesForReference(index, ref)[0] : undefined;
    return top ? { blobs, top } : undefined;
  }
  const configBytes = await archive.tar.readBytes(
    archive.tar.resolveFile(item.Config, "config", true),
    MAX_CONFIG_BYTES,
    `config ${item.Config}`,
  );
  const top = await findOciImage(blobs, index, Digest.of(configBytes));
  return top ? { blobs, top } : undefined;
}

export class DockerArchiveSource implements ImageSource {
  private built: Promise<Built> | undefined;
  private closed = false;

  private constructor(
    readonly location: DockerArchiveLocation,
    private readonly archive: OpenedDockerArchive,
    private readonly item: ManifestItem | undefined,
    private readonly oci: OciImage | undefined,
  ) {}

  /** True when the manifest is generated here (a pre-25 archive): its digest identifies nothing beyond this archive. */
  get generatedManifest(): boolean {
    return this.oci === undefined;
  }

  static async open(loc: DockerArchiveLocation, opts: TransportOptions): Promise<DockerArchiveSource> {
    const archive = await openDockerArchive(loc, opts);
    try {
      let item: ManifestItem | undefined;
      try {
        item = pickImage(archive, loc);
      } catch (err) {
        // A name only index.json knows (io.containerd.image.name) still selects the image.
        const oci = loc.ref && err instanceof NotFoundError ? await ociImageOf(archive, undefined, loc.ref) : undefined;
        if (!oci) throw err;
        return new DockerArchiveSource(loc, archive, undefined, oci);
      }
      return new DockerArchiveSource(loc, archive, item, await ociImageOf(archive, item, loc.ref));
    } catch (err) {
      await archive.cleanup();
      throw err;
    }
  }

  /** A source over an archive someone else opened (and closes): the reference store uses it to name the image's digest. */
  static async forItem(loc: DockerArchiveLocation, archive: OpenedDockerArchive, item: ManifestItem): Promise<DockerArchiveSource> {
    const borrowed = { ...archive, cleanup: async () => undefined };
    return new DockerArchiveSource(loc, borrowed, item, await ociImageOf(borrowed, item, loc.ref));
  }

  /** RepoTags of the image this source reads. */
  get repoTags(): string[] {
    return this.item?.RepoTags ?? [];
  }

  async getManifest(digest?: Digest): Promise<RawManifest> {
    if (this.oci) return this.ociManifest(this.oci, digest);
    const built = await this.build();
    if (digest !== undefined && !digest.equals(built.manifest.digest)) {
      throw new NotFoundError(`manifest ${digest} not found in ${this.archive.where} (its image is ${built.manifest.digest})`, {
        where: this.archive.where,
      });
    }
    return built.manifest;
  }

  private async ociManifest({ blobs, top }: OciImage, digest: Digest | undefined): Promise<RawManifest> {
    const desc = digest === undefined || digest.equals(top.digest) ? top : undefined;
    const wanted = desc?.digest ?? digest!;
    if (!(await blobs.hasBlob(wanted)))
      throw new NotFoundError(`manifest ${wanted} not found in ${this.archive.where}`, { where: this.archive.where });
    const bytes = await blobs.readBlob(wanted, desc ? { size: desc.size } : {});
    const parsed = parseManifest(bytes, desc?.mediaType, `${this.archive.where} ${wanted}`);
    return { bytes, mediaType: parsed.mediaType, digest: wanted };
  }

  async getBlob(desc: Descriptor, opts: BlobReadOptions = {}): Promise<Readable> {
    if (this.oci) return this.oci.blobs.openBlob(desc.digest, { size: desc.size, ...defined({ signal: opts.signal }) });
    const built = await this.build();
    const where = this.archive.where;
    if (desc.digest.equals(built.config.digest)) {
      const check = new VerifyingStream({ digest: desc.digest, size: built.config.bytes.length, where });
      check.end(built.config.bytes);
      return check;
    }
    const layer = built.layers.get(desc.digest.toString());
    if (!layer) {
      const urls = desc.urls && desc.urls.length > 0 ? ` (a foreign layer: it lives at ${desc.urls.join(", ")})` : "";
      throw new NotFoundError(`blob ${desc.digest} not found in ${where}${urls}`, { where });
    }
    opts.signal?.throwIfAborted();
    const at = `${where} ${layer.entry.name}`;
    // The file was hashed when the manifest was built; verify again as it is read, it may have changed since.
    const verify = new VerifyingStream({ digest: layer.digest, size: layer.size, where: at });
    const checked = verifiedStream(this.archive.tar.stream(layer.entry), verify, opts.signal);
    if (layer.compression === "none") return checked;
    const diff = new DiffIdCheck(layer.diffId, layer.size, at);
    return verifiedStream(checked, diff, opts.signal);
  }

  /** Builds the schema 2 manifest once: reads the config, hashes every layer file. */
  private build(): Promise<Built> {
    this.built ??= this.buildOnce();
    return this.built;
  }

  private async buildOnce(): Promise<Built> {
    const { tar, where } = this.archive;
    const item = this.item;
    if (!item) throw new NotFoundError(`${where}: the image has no manifest.json entry`, { where });
    const configEntry = tar.resolveFile(item.Config, "config", true);
    const configBytes = await tar.readBytes(configEntry, MAX_CONFIG_BYTES, `config ${item.Config}`);
    const configDigest = Digest.of(configBytes);
    checkPromise(item.Config, configDigest, where);
    const config = parseImageConfig(configBytes, `${where} ${item.Config}`);
    const diffIds = (config.rootfs?.diff_ids ?? []).map((d) => Digest.parse(d));
    if (diffIds.length !== item.Layers.length) {
      throw new IntegrityError(`${where}: manifest.json lists ${item.Layers.length} layers but the config has ${diffIds.length} diff_ids`, {
        code: "E_MANIFEST_INVALID",
        where,
      });
    }
    const layers = new Map<string, Layer>();
    const descriptors: Descriptor[] = [];
    for (const [i, path] of item.Layers.entries()) {
      const diffId = diffIds[i]!;
      const foreign = foreignLayer(item, diffId, where);
      // A foreign layer may be left out of the file (ggcr's sparse_foreign.tar): it lives at its URLs.
      if (foreign && !tar.has(path)) {
        descriptors.push(foreign);
        continue;
      }
      const entry = tar.resolveFile(path, "layer", true);
      const { digest, compression } = await hashEntry(tar, entry, where);
      checkPromise(path, digest, where);
      if (foreign && !foreign.digest.equals(digest)) {
        throw new IntegrityError(`layer ${path} in ${where} has digest ${digest}, but its LayerSources entry says ${foreign.digest}`, {
          code: "E_DIGEST_MISMATCH",
          where,
        });
      }
      if (compression === "none" && !digest.equals(diffId)) {
        throw new IntegrityError(`layer ${path} in ${where} has digest ${digest}, but the config's diff_id is ${diffId}`, {
          code: "E_DIGEST_MISMATCH",
          where,
        });
      }
      layers.set(digest.toString(), { entry, digest, size: entry.size, compression, diffId });
      descriptors.push(
        foreign ?? {
          mediaType: compression === "gzip" ? MediaType.DockerLayerGzip : MediaType.DockerLayer,
          size: entry.size,
          digest,
        },
      );
    }
    const manifest = dockerArchiveManifest(
      { mediaType: MediaType.DockerConfig, digest: configDigest, size: configBytes.length },
      descriptors,
    );
    return { manifest, config: { bytes: configBytes, digest: configDigest }, layers };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.archive.cleanup();
  }
}
