// The reference face of a docker-archive (ls, tag, delete): RepoTags in
// manifest.json. Changes rewrite the archive (temporary file renamed over
// it). Deleting an image's last tag removes the image, and the files nothing
// else references (config, layer folders, blobs).
import { requireReference } from "../../ref/location.js";
import { Digest } from "../../oci/digest.js";
import type { DockerArchiveLocation } from "../../ref/location.js";
import type { DeleteResult, ReferenceStore, TransportOptions } from "../types.js";
import { reachableBlobs } from "../layout/gc.js";
import { MAX_INDEX_JSON_BYTES, parseIndexJson, removeEntries, serializeIndexJson, type LayoutIndex } from "../layout/index-json.js";
import { repoTagFor } from "./docker-destination.js";
import { formatRepoTag, parseRepoTag, repoTagMatches, repositoriesFile, serializeManifestJson, type ManifestItem } from "./docker-format.js";
import { DockerArchiveSource, openDockerArchive, pickImage, type OpenedDockerArchive } from "./docker-source.js";
import { ArchiveBlobs } from "./oci-archive.js";
import { rewriteArchive } from "./rewrite.js";
import type { TarIndex } from "./tar-index.js";

const CONTAINERD_NAME = "io.containerd.image.name";

export class DockerArchiveReferences implements ReferenceStore {
  constructor(
    readonly location: DockerArchiveLocation,
    private readonly opts: TransportOptions,
  ) {}

  private async withArchive<T>(fn: (a: OpenedDockerArchive) => Promise<T>): Promise<T> {
    const archive = await openDockerArchive(this.location, this.opts);
    try {
      return await fn(archive);
    } finally {
      await archive.cleanup();
    }
  }

  async listTags(): Promise<string[]> {
    return this.withArchive(async (a) => [...new Set(a.items.flatMap((i) => i.RepoTags))]);
  }

  /** Adds NAME:TAG (or TAG, in the repository the location or the image's first RepoTag names) to the image; the tag moves if another image had it. */
  async addTag(tag: string): Promise<void> {
    await this.withArchive(async (archive) => {
      const item = pickImage(archive, this.location);
      const base = this.location.ref ?? item.RepoTags.map(parseRepoTag).find((r) => r !== undefined);
      const repoTag = repoTagFor(tag, base, archive.where);
      const items = archive.items.map((i) => ({ ...i, RepoTags: i.RepoTags.filter((t) => !sameTag(t, repoTag)) }));
      items[archive.items.indexOf(item)]!.RepoTags.push(repoTag);
      await rewriteArchive(archive.tar, this.location.path, { drop: new Set(), replace: manifestFiles(items) });
    });
  }

  async deleteReference(): Promise<DeleteResult> {
    requireReference(this.location, "delete");
    return this.withArchive(async (archive) => {
      const item = pickImage(archive, this.location);
      const digest = (await (await DockerArchiveSource.forItem(this.location, archive, item)).getManifest()).digest;
      const ref = this.location.ref;
      const removed = ref ? item.RepoTags.filter((t) => repoTagMatches(t, ref)) : item.RepoTags;
      const kept = item.RepoTags.filter((t) => !removed.includes(t));
      const items = archive.items.flatMap((i) => (i !== item ? [i] : kept.length > 0 ? [{ ...i, RepoTags: kept }] : []));
      const replace = manifestFiles(items);
      let drop = new Set<string>();
      const index = await readDockerIndex(archive);
      let keptIndex: LayoutIndex | undefined;
      if (index) {
        keptIndex = removeEntries(index, (e) => removed.some((t) => containerdNameMatches(e.desc.annotations?.[CONTAINERD_NAME], t)));
        replace.set("index.json", Buffer.from(serializeIndexJson(keptIndex)));
      }
      if (kept.length === 0) drop = await unreferencedFiles(archive, item, items, keptIndex);
      if (!replace.has("repositories") && archive.tar.has("repositories")) drop.add("repositories");
      await rewriteArchive(archive.tar, this.location.path, { drop, replace });
      const alsoRemovedTags = ref ? [] : removed;
      return { digest, alsoRemovedTags, blobsRemoved: [...drop].filter((n) => archive.tar.get(n)?.kind === "file").length };
    });
  }

  async close(): Promise<void> {
    // Nothing held between calls.
  }
}

function sameTag(a: string, b: string): boolean {
  const ref = parseRepoTag(b);
  return ref !== undefined ? repoTagMatches(a, ref) : a === b;
}

function containerdNameMatches(name: string | undefined, repoTag: string): boolean {
  if (name === undefined) return false;
  const a = parseRepoTag(name);
  const b = parseRepoTag(repoTag);
  return a !== undefined && b !== undefined && formatRepoTag(a) === formatRepoTag(b);
}

function manifestFiles(items: ManifestItem[]): Map<string, Buffer> {
  const out = new Map<string, Buffer>([["manifest.json", serializeManifestJson(items)]]);
  const repositories = repositoriesFile(items);
  if (repositories) out.set("repositories", repositories);
  return out;
}

async function readDockerIndex(archive: OpenedDockerArchive): Promise<LayoutIndex | undefined> {
  if (!archive.tar.has("index.json")) return undefined;
  const bytes = await archive.tar.readBytes(archive.tar.resolveFile("index.json", "index.json", false), MAX_INDEX_JSON_BYTES, "index.json");
  return parseIndexJson(bytes, archive.where);
}

/** Every name on the way from `name` through links to a file (all of them must stay if the file stays). */
function linkChain(tar: TarIndex, name: string): string[] {
  const chain: string[] = [];
  let current: string | undefined = name;
  for (let hop = 0; current !== undefined && hop < 20; hop++) {
    chain.push(current);
    current = tar.get(current)?.target;
  }
  return chain;
}

/**
 * The files of a removed image that no remaining image (nor, in a Docker 25+
 * archive, the remaining index.json) references: its config, its layer files
 * and the legacy folders (VERSION, json, layer.tar) that held them.
 */
async function unreferencedFiles(archive: OpenedDockerArchive, gone: ManifestItem, items: ManifestItem[], index: LayoutIndex | undefined): Promise<Set<string>> {
  const { tar } = archive;
  const keep = new Set<string>();
  for (const i of items) for (const p of [i.Config, ...i.Layers]) for (const n of linkChain(tar, p)) keep.add(n);
  if (index) {
    const reachable = await reachableBlobs(new ArchiveBlobs(tar, archive.where), index);
    for (const d of reachable) {
      const digest = Digest.tryParse(d);
      if (digest) keep.add(digest.blobPath);
    }
  }
  const keptFolders = new Set([...keep].map(folderOf).filter((f): f is string => f !== undefined));
  const candidates = new Set<string>();
  for (const p of [gone.Config, ...gone.Layers]) {
    for (const n of linkChain(tar, p)) {
      candidates.add(n);
      const folder = folderOf(n);
      if (folder && !keptFolders.has(folder)) for (const e of tar.entries) if (e.name === folder || e.name.startsWith(`${folder}/`)) candidates.add(e.name);
    }
  }
  return new Set([...candidates].filter((n) => !keep.has(n)));
}

/** The legacy layer folder of `<id>/layer.tar`, if the name has that shape. */
function folderOf(name: string): string | undefined {
  const m = /^([a-f0-9]{64})\/layer\.tar$/.exec(name);
  return m ? m[1] : undefined;
}

