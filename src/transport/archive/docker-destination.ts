// A docker-archive as an ImageDestination: a tar `docker load` accepts.
// Layers arrive uncompressed (capabilities.needsUncompressedLayers) with
// sizes unknown until they end, and a tar header needs the size first, so
// every blob is spooled to a temporary file (verified against its digest)
// and the archive is written at commit: per-layer folders (VERSION, json,
// layer.tar), the config as <hex>.json, manifest.json and repositories, into
// a temporary file renamed over the target, or to standard output for `-`.
import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import { IntegrityError, UnsupportedError, UsageError } from "../../errors.js";
import { Digest } from "../../oci/digest.js";
import { parseImageConfig, parseRawManifest, type Descriptor, type ImageConfig, type RawManifest } from "../../oci/manifest.js";
import type { DockerArchiveLocation } from "../../ref/location.js";
import { isValidTag, parseReference, type ImageReference } from "../../ref/reference.js";
import type { BlobReadOptions, DestinationCapabilities, ImageDestination, TransportOptions } from "../types.js";
import { readFileCapped } from "../layout/fsutil.js";
import {
  MAX_CONFIG_BYTES,
  formatRepoTag,
  legacyLayerIds,
  legacyLayerJson,
  repositoriesFile,
  serializeManifestJson,
  type ManifestItem,
} from "./docker-format.js";
import { ArchiveOutput, makeSpoolDir, removeDir, spoolBlob, type SpooledBlob } from "./staging.js";
import type { TarWriter } from "./tar-writer.js";

/** One image to write: its config, its layers in order (by diff_id), its RepoTags. */
interface PendingImage {
  config: { digest: Digest; bytes: Buffer; parsed: ImageConfig };
  diffIds: Digest[];
  tags: string[];
}

/** The RepoTag `tag` stands for: a bare tag joins the location's repository; NAME:TAG is taken as given. */
export function repoTagFor(tag: string, base: ImageReference | undefined, where: string): string {
  if (isValidTag(tag) && !tag.includes(":")) {
    if (!base) throw new UsageError(`cannot tag "${tag}" in ${where}: give NAME:TAG (the archive location names no repository)`, { code: "E_REF_INVALID" });
    return formatRepoTag({ domain: base.domain, path: base.path, tag });
  }
  const ref = parseReference(tag);
  if (ref.digest) throw new UsageError(`a docker-archive tag is NAME:TAG, not a digest ("${tag}")`, { code: "E_REF_INVALID" });
  return formatRepoTag(ref);
}

export class DockerArchiveDestination implements ImageDestination {
  readonly capabilities: DestinationCapabilities = {
    needsUncompressedLayers: true,
    acceptsIndex: false,
    preservesDigests: false,
    supportsMount: false,
    concurrentPutBlob: true,
  };

  private readonly blobs = new Map<string, SpooledBlob>();
  private readonly images: PendingImage[] = [];
  private finished = false;

  private constructor(
    readonly location: DockerArchiveLocation,
    private readonly spoolDir: string,
    private readonly opts: TransportOptions,
  ) {}

  static async open(location: DockerArchiveLocation, opts: TransportOptions): Promise<DockerArchiveDestination> {
    return new DockerArchiveDestination(location, await makeSpoolDir(location.path, opts), opts);
  }

  private get where(): string {
    return `docker-archive:${this.location.path}`;
  }

  async currentDigest(): Promise<Digest | undefined> {
    return undefined; // the archive is written whole; its manifest is generated anyway
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    return this.blobs.has(desc.digest.toString());
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
      throw new UnsupportedError(`a docker-archive holds one platform per image; pick one with --platform (${this.where})`, { where: this.where });
    }
    const config = await this.readConfig(parsed.config.digest);
    const diffIds = (config.parsed.rootfs?.diff_ids ?? []).map((d) => Digest.parse(d));
    if (diffIds.length !== parsed.layers.length) {
      throw new IntegrityError(`manifest ${m.digest} has ${parsed.layers.length} layers but its config ${diffIds.length} diff_ids`, { code: "E_MANIFEST_INVALID", where: this.where,
      });
    }
    for (const d of diffIds) await this.checkUncompressedLayer(d);
    const tags = this.tagsFor(opts);
    let image = this.images.find((i) => i.config.digest.equals(config.digest));
    if (!image) {
      image = { config, diffIds, tags: [] };
      this.images.push(image);
    }
    for (const t of tags) if (!image.tags.includes(t)) image.tags.push(t);
    // A tag names one image: taking it for this one drops it from any other.
    for (const other of this.images) if (other !== image) other.tags = other.tags.filter((t) => !tags.includes(t));
  }

  private tagsFor(opts: { tag?: string; isTop?: boolean }): string[] {
    if (opts.tag !== undefined) return [repoTagFor(opts.tag, this.location.ref, this.where)];
    if (opts.isTop === false || !this.location.ref) return [];
    return [formatRepoTag(this.location.ref)];
  }

  private async readConfig(digest: Digest): Promise<PendingImage["config"]> {
    const spooled = this.blobs.get(digest.toString());
    if (!spooled) throw new IntegrityError(`config ${digest} was not put before its manifest`, { code: "E_MANIFEST_INVALID", where: this.where });
    const bytes = await readFileCapped(spooled.path, MAX_CONFIG_BYTES, `config ${digest}`);
    return { digest, bytes, parsed: parseImageConfig(bytes, `${this.where} config ${digest}`) };
  }

  /** The layer must be here under its diff_id, and really uncompressed (docker load would choke on gzip in layer.tar). */
  private async checkUncompressedLayer(diffId: Digest): Promise<void> {
    const spooled = this.blobs.get(diffId.toString());
    if (!spooled) {
      throw new IntegrityError(`layer ${diffId} was not put uncompressed (by its diff_id) before the manifest`, { code: "E_MANIFEST_INVALID", where: this.where });
    }
    const fh = await open(spooled.path, "r");
    try {
      const head = Buffer.alloc(2);
      await fh.read(head, 0, 2, 0);
      if (head[0] === 0x1f && head[1] === 0x8b) {
        throw new IntegrityError(`layer ${diffId} is gzip-compressed, but a docker-archive stores uncompressed layers`, { code: "E_DIGEST_MISMATCH", where: this.where });
      }
    } finally {
      await fh.close();
    }
  }

  async commit(): Promise<void> {
    this.assertOpen();
    this.finished = true;
    let output: ArchiveOutput | undefined;
    try {
      output = await ArchiveOutput.open(this.location.path, this.opts);
      const items = await this.writeImages(output.writer);
      await output.writer.addBuffer("manifest.json", serializeManifestJson(items));
      const repositories = repositoriesFile(items);
      if (repositories) await output.writer.addBuffer("repositories", repositories);
      await output.publish();
    } catch (err) {
      await output?.discard();
      throw err;
    } finally {
      await removeDir(this.spoolDir);
    }
  }

  /** Writes configs and layer folders; returns manifest.json's entries. */
  private async writeImages(writer: TarWriter): Promise<ManifestItem[]> {
    const folders = new Set<string>();
    const layerFile = new Map<string, string>(); // diff_id → the folder holding its bytes
    const configs = new Set<string>();
    const items: ManifestItem[] = [];
    for (const image of this.images) {
      const configName = `${image.config.digest.hex}.json`;
      if (!configs.has(configName)) {
        configs.add(configName);
        await writer.addBuffer(configName, image.config.bytes);
      }
      const ids = legacyLayerIds(image.diffIds, image.config.digest);
      for (const [i, id] of ids.entries()) {
        if (folders.has(id)) continue;
        folders.add(id);
        const diffId = image.diffIds[i]!;
        await writer.addDirectory(id);
        await writer.addBuffer(`${id}/VERSION`, Buffer.from("1.0"));
        await writer.addBuffer(`${id}/json`, legacyLayerJson(image.config.parsed, id, i > 0 ? ids[i - 1] : undefined, i === ids.length - 1));
        const first = layerFile.get(diffId.toString());
        if (first) {
          // The same bytes again (an empty layer repeated): a link, as docker save writes it.
          await writer.addSymlink(`${id}/layer.tar`, `../${first}/layer.tar`);
        } else {
          const blob = this.blobs.get(diffId.toString())!;
          await writer.addFile(`${id}/layer.tar`, blob.path, blob.size);
          layerFile.set(diffId.toString(), id);
        }
      }
      items.push({ Config: configName, RepoTags: image.tags, Layers: ids.map((id) => `${id}/layer.tar`) });
    }
    return items;
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
