// A docker-archive as an ImageDestination, in the dual form Docker 25+
// writes: an OCI image layout (oci-layout, index.json, blobs/ALG/HEX) that
// holds each image's own manifest and blobs byte for byte, so its digest
// survives registry → tar → registry and the file is also an oci-archive;
// plus manifest.json and repositories for `docker load`.
//
// Layer files stay as the registry serves them (gzip or plain tar), named by
// their digest. Every `docker load` since 1.10 inflates each layer file with
// archive.DecompressStream, whatever manifest.json calls it (moby
// image/tarexport/load.go: loadLayer, since the 2015 content-addressability
// rewrite, in v1.10.0; today daemon/internal/image/tarexport/load.go), and
// containers/image (skopeo, podman load) inflates docker-archive layer files
// itself (docker/internal/tarfile/src.go, GetBlob). zstd is the exception:
// DecompressStream learned it in Docker 23 (moby commit e187eb2), so such
// layers must arrive decompressed (capabilities.layerCompressions).
//
// Blobs are spooled (verified) and the tar is written at commit: a file
// already at the path keeps its other images (their files are carried over),
// a tag given again moves to the new image.
import type { Readable } from "node:stream";
import { IntegrityError, UnsupportedError, UsageError } from "../../errors.js";
import { Digest } from "../../oci/digest.js";
import {
  descriptorOf,
  MAX_CONFIG_BYTES,
  parseImageConfig,
  parseRawManifest,
  type Descriptor,
  type ImageManifest,
  type RawManifest,
} from "../../oci/manifest.js";
import { layerCompression } from "../../oci/mediatype.js";
import type { DockerArchiveLocation } from "../../ref/location.js";
import { isValidTag, parseReference, type ImageReference } from "../../ref/reference.js";
import type { BlobReadOptions, DestinationCapabilities, ImageDestination, TransportOptions } from "../types.js";
import { readFileCapped } from "../layout/fsutil.js";
import { emptyIndex, makeEntry, serializeIndexJson, withEntries, type IndexEntry, type LayoutIndex } from "../layout/index-json.js";
import { LAYOUT_VERSION } from "../layout/layout.js";
import { CONTAINERD_NAME } from "./docker-oci.js";
import {
  formatRepoTag,
  parseRepoTag,
  repositoriesFile,
  serializeManifestJson,
  type LayerSource,
  type ManifestItem,
} from "./docker-format.js";
import { checkEarlierArchive, earlierDockerArchive, type EarlierArchive } from "./earlier.js";
import { ArchiveOutput, makeSpoolDir, removeDir, spoolBlob, type SpooledBlob } from "./staging.js";
import { checkArchiveSpace, type PlannedBlob } from "./space.js";
import { defined } from "../../defined.js";

/** One image to write: its manifest as given, the manifest parsed, its RepoTags. */
interface PendingImage {
  raw: RawManifest;
  manifest: ImageManifest;
  tags: string[];
  /** The config's diff_ids, one per layer (LayerSources is keyed by them). */
  diffIds: string[];
}

/** The RepoTag `tag` stands for: a bare tag joins the location's repository; NAME:TAG is taken as given. */
export function repoTagFor(tag: string, base: ImageReference | undefined, where: string): string {
  if (isValidTag(tag) && !tag.includes(":")) {
    if (!base)
      throw new UsageError(`cannot tag "${tag}" in ${where}: give NAME:TAG (the archive location names no repository)`, {
        code: "E_REF_INVALID",
      });
    return formatRepoTag({ domain: base.domain, path: base.path, tag });
  }
  const ref = parseReference(tag);
  if (ref.digest) throw new UsageError(`a docker-archive tag is NAME:TAG, not a digest ("${tag}")`, { code: "E_REF_INVALID" });
  return formatRepoTag(ref);
}

/** The index.json entry of a manifest for one RepoTag, named as Docker 25+ names it (full reference and tag). */
export function taggedEntry(desc: Descriptor, repoTag: string | undefined): IndexEntry {
  const ref = repoTag === undefined ? undefined : parseRepoTag(repoTag);
  const { annotations: _names, ...plain } = desc; // names are this entry's own
  if (!ref) return makeEntry(plain);
  const full = `${ref.domain}/${ref.path}:${ref.tag!}`;
  return makeEntry({ ...plain, annotations: { [CONTAINERD_NAME]: full } }, ref.tag);
}

/**
 * RepoTags sorted within each image and images by their first tag (untagged ones last, by digest), so
 * manifest.json and index.json are the same whatever order concurrent copies (--all-tags) finished in.
 */
function sortImages(images: PendingImage[]): void {
  for (const i of images) i.tags.sort();
  const key = (i: PendingImage): string => (i.tags.length > 0 ? `0${i.tags[0]!}` : `1${i.raw.digest.toString()}`);
  images.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** LayerSources of an image: each layer with `urls` by its diff_id, described as its manifest did (docker save's shape). */
export function layerSourcesOf(layers: readonly Descriptor[], diffIds: readonly string[]): Record<string, LayerSource> | undefined {
  const out: Record<string, LayerSource> = {};
  layers.forEach((l, i) => {
    if (!l.urls || l.urls.length === 0) return;
    out[diffIds[i]!] = {
      mediaType: l.mediaType,
      size: l.size,
      digest: l.digest.toString(),
      urls: l.urls,
      ...defined({ annotations: l.annotations }),
    };
  });
  return Object.keys(out).length > 0 ? out : undefined;
}

export class DockerArchiveDestination implements ImageDestination {
  readonly capabilities: DestinationCapabilities = {
    needsUncompressedLayers: false,
    acceptsIndex: false,
    preservesDigests: true,
    supportsMount: false,
    concurrentPutBlob: true,
    layerCompressions: ["gzip", "none"],
    // No keepsForeignLayers: docker load needs every layer's bytes, so foreign ones are written too (named in LayerSources).
  };

  private readonly blobs = new Map<string, SpooledBlob>();
  private readonly images: PendingImage[] = [];
  private finished = false;

  private constructor(
    readonly location: DockerArchiveLocation,
    private readonly spoolDir: string,
    /** Blobs the archive being replaced holds as blobs/ALG/HEX (checkEarlierArchive). */
    private readonly earlierBlobs: ReadonlySet<string>,
    private readonly opts: TransportOptions,
  ) {}

  static async open(location: DockerArchiveLocation, opts: TransportOptions): Promise<DockerArchiveDestination> {
    if (location.index !== undefined)
      throw new UsageError(`docker-archive:${location.path}:@${location.index} picks an image to read; a destination takes NAME:TAG`, {
        code: "E_LOCATION_INVALID",
      });
    const earlierBlobs = await checkEarlierArchive(location.path, "docker-archive", opts);
    return new DockerArchiveDestination(
      location,
      await makeSpoolDir(location.path, "docker-archive", opts),
      earlierBlobs ?? new Set(),
      opts,
    );
  }

  private get where(): string {
    return `docker-archive:${this.location.path}`;
  }

  async currentDigest(): Promise<Digest | undefined> {
    return undefined; // the archive is written anew at every commit
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    return this.blobs.has(desc.digest.toString());
  }

  /**
   * Before the first blob moves: every blob stays spooled until commit writes the tar beside the target, which
   * holds the archive it replaces too (space.ts), as an oci-archive destination checks.
   */
  async reserveSpace(blobs: readonly PlannedBlob[]): Promise<void> {
    await checkArchiveSpace(this.where, this.location.path, this.earlierBlobs, { dir: this.spoolDir, spooled: "all" }, blobs);
  }

  async putBlob(desc: Descriptor, data: Readable, opts: BlobReadOptions = {}): Promise<void> {
    this.assertOpen();
    const spooled = await spoolBlob(this.spoolDir, desc.digest, desc.size, data, opts.signal, this.where);
    this.blobs.set(desc.digest.toString(), spooled);
  }

  async putManifest(m: RawManifest, opts: { tag?: string; isTop?: boolean } = {}): Promise<void> {
    this.assertOpen();
    const parsed = parseRawManifest(m, this.where);
    if (parsed.kind === "index") {
      throw new UnsupportedError(`a docker-archive holds one platform per image; pick one with --platform (${this.where})`, {
        where: this.where,
      });
    }
    const diffIds = await this.checkImage(m, parsed);
    const tags = this.tagsFor(opts);
    let image = this.images.find((i) => i.raw.digest.equals(m.digest));
    if (!image) {
      image = { raw: m, manifest: parsed, tags: [], diffIds };
      this.images.push(image);
    }
    for (const t of tags) if (!image.tags.includes(t)) image.tags.push(t);
    // A tag names one image: taking it for this one drops it from any other.
    for (const other of this.images) if (other !== image) other.tags = other.tags.filter((t) => !tags.includes(t));
  }

  /** Config and layers must be here, one layer per diff_id, each one `docker load` can inflate; returns the diff_ids. */
  private async checkImage(m: RawManifest, parsed: ImageManifest): Promise<string[]> {
    const config = this.blobs.get(parsed.config.digest.toString());
    if (!config)
      throw new IntegrityError(`config ${parsed.config.digest} was not put before its manifest`, {
        code: "E_MANIFEST_INVALID",
        where: this.where,
      });
    const bytes = await readFileCapped(config.path, MAX_CONFIG_BYTES, `config ${parsed.config.digest}`);
    const diffIds = parseImageConfig(bytes, `${this.where} config ${parsed.config.digest}`).rootfs?.diff_ids ?? [];
    if (diffIds.length !== parsed.layers.length) {
      throw new IntegrityError(`manifest ${m.digest} has ${parsed.layers.length} layers but its config ${diffIds.length} diff_ids`, {
        code: "E_MANIFEST_INVALID",
        where: this.where,
      });
    }
    for (const l of parsed.layers) {
      const compression = layerCompression(l.mediaType);
      if (compression === undefined || !this.capabilities.layerCompressions!.includes(compression)) {
        throw new UnsupportedError(
          `layer ${l.digest} (${l.mediaType}) cannot go into a docker-archive: docker load reads gzip or plain tar layers`,
          {
            where: this.where,
          },
        );
      }
      if (!this.blobs.has(l.digest.toString())) {
        throw new IntegrityError(`layer ${l.digest} was not put before its manifest`, { code: "E_MANIFEST_INVALID", where: this.where });
      }
    }
    return diffIds;
  }

  private tagsFor(opts: { tag?: string; isTop?: boolean }): string[] {
    if (opts.tag !== undefined) return [repoTagFor(opts.tag, this.location.ref, this.where)];
    if (opts.isTop === false || !this.location.ref) return [];
    return [formatRepoTag(this.location.ref)];
  }

  async commit(): Promise<void> {
    this.assertOpen();
    this.finished = true;
    let output: ArchiveOutput | undefined;
    let earlier: EarlierArchive | undefined;
    try {
      sortImages(this.images);
      const taken = new Set(this.images.flatMap((i) => i.tags));
      earlier = await earlierDockerArchive(this.location.path, taken, this.opts);
      output = await ArchiveOutput.open(this.location.path, this.opts);
      const w = output.writer;
      await w.addBuffer("oci-layout", Buffer.from(JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION })));
      const written = await this.writeBlobs(output);
      await earlier?.carry(w, written);
      const items = [...(earlier?.items ?? []), ...this.images.map((i) => this.itemOf(i))];
      await w.addBuffer("manifest.json", serializeManifestJson(items));
      const repositories = repositoriesFile(items);
      if (repositories) await w.addBuffer("repositories", repositories);
      await w.addBuffer("index.json", Buffer.from(serializeIndexJson(this.indexOf(earlier?.index))));
      await output.publish();
    } catch (err) {
      await output?.discard();
      throw err;
    } finally {
      await earlier?.close();
      await removeDir(this.spoolDir);
    }
  }

  /** Every spooled blob and every manifest under blobs/ALG/HEX; returns the names written. */
  private async writeBlobs(output: ArchiveOutput): Promise<Set<string>> {
    const w = output.writer;
    const written = new Set<string>();
    const referenced = new Set(this.images.flatMap((i) => [i.manifest.config, ...i.manifest.layers].map((d) => d.digest.toString())));
    for (const [key, blob] of this.blobs) {
      if (!referenced.has(key)) continue; // put but never used by a manifest
      const name = Digest.parse(key).blobPath;
      await w.addParents(name);
      await w.addFile(name, blob.path, blob.size);
      written.add(name);
    }
    for (const { raw } of this.images) {
      const name = raw.digest.blobPath;
      if (written.has(name)) continue;
      await w.addParents(name);
      await w.addBuffer(name, raw.bytes);
      written.add(name);
    }
    return written;
  }

  private itemOf(image: PendingImage): ManifestItem {
    const sources = layerSourcesOf(image.manifest.layers, image.diffIds);
    return {
      Config: image.manifest.config.digest.blobPath,
      RepoTags: image.tags,
      Layers: image.manifest.layers.map((l) => l.digest.blobPath),
      ...defined({ LayerSources: sources }),
    };
  }

  /** index.json: the earlier archive's entries (less the tags taken now), then one entry per new RepoTag (or one unnamed). */
  private indexOf(earlier: LayoutIndex | undefined): LayoutIndex {
    const kept = earlier ?? emptyIndex();
    const fresh = this.images.flatMap((i) =>
      i.tags.length > 0 ? i.tags.map((t) => taggedEntry(descriptorOf(i.raw), t)) : [taggedEntry(descriptorOf(i.raw), undefined)],
    );
    return withEntries(kept, [...kept.entries, ...fresh]);
  }

  async abort(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    await removeDir(this.spoolDir);
  }

  private assertOpen(): void {
    if (this.finished) throw new Error("docker-archive destination already committed or aborted");
  }
}
