// The reference face of a docker-archive (ls, tag, delete): RepoTags in
// manifest.json. Changes rewrite the archive (temporary file renamed over
// it). Deleting an image's last tag removes the image, and the files nothing
// else references (config, layer folders, blobs).
import { requireReference } from "../../ref/location.js";
import type { DockerArchiveLocation } from "../../ref/location.js";
import type { DeleteResult, ReferenceStore, TransportOptions } from "../types.js";
import type { Descriptor } from "../../oci/manifest.js";
import { addUnnamed, removeEntries, serializeIndexJson, sortedNames, type LayoutIndex } from "../layout/index-json.js";
import { CONTAINERD_NAME, readArchiveIndex } from "./docker-oci.js";
import { repoTagFor, taggedEntry } from "./docker-destination.js";
import {
  formatRepoTag,
  parseRepoTag,
  repoTagMatches,
  repositoriesFile,
  serializeManifestJson,
  type ManifestItem,
} from "./docker-format.js";
import { DockerArchiveSource, ociImageOf, openDockerArchive, pickImage, type OpenedDockerArchive } from "./docker-source.js";
import { rewriteArchive } from "./rewrite.js";
import { unreferencedFiles } from "./earlier.js";

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
    return this.withArchive(async (a) => sortedNames(a.items.flatMap((i) => i.RepoTags)));
  }

  /** Adds NAME:TAG (or TAG, in the repository the location or the image's first RepoTag names) to the image; the tag moves if another image had it. */
  async addTag(tag: string): Promise<void> {
    await this.withArchive(async (archive) => {
      const item = pickImage(archive, this.location);
      const base = this.location.ref ?? item.RepoTags.map(parseRepoTag).find((r) => r !== undefined);
      const repoTag = repoTagFor(tag, base, archive.where);
      const items = archive.items.map((i) => ({ ...i, RepoTags: i.RepoTags.filter((t) => !sameTag(t, repoTag)) }));
      items[archive.items.indexOf(item)]!.RepoTags.push(repoTag);
      const replace = manifestFiles(items);
      // The OCI view (index.json, what Docker 25+ loads) gets the name too, or `docker load` there would not see it.
      const index = await readArchiveIndex(archive.tar, archive.where);
      const image = index ? (await ociImageOf(archive, item, undefined))?.top : undefined;
      if (index && image) replace.set("index.json", Buffer.from(serializeIndexJson(retagIndex(index, image, repoTag))));
      await rewriteArchive(archive.tar, this.location.path, { drop: new Set(), replace });
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
      const index = await readArchiveIndex(archive.tar, archive.where);
      let keptIndex: LayoutIndex | undefined;
      if (index) {
        keptIndex = removeEntries(index, (e) => removed.some((t) => containerdNameMatches(e.desc.annotations?.[CONTAINERD_NAME], t)));
        replace.set("index.json", Buffer.from(serializeIndexJson(keptIndex)));
      }
      if (kept.length === 0) drop = await unreferencedFiles(archive, item, items, keptIndex);
      if (!replace.has("repositories") && archive.tar.has("repositories")) drop.add("repositories");
      await rewriteArchive(archive.tar, this.location.path, { drop, replace });
      const alsoRemovedTags = ref ? [] : removed;
      const blobsRemoved = [...drop].filter((n) => archive.tar.get(n)?.kind === "file").length;
      return { digest, alsoRemovedTags, blobsRemoved, ...(kept.length > 0 ? { imageKept: true } : {}) };
    });
  }

  async close(): Promise<void> {
    // Nothing held between calls.
  }
}

/**
 * index.json with `repoTag` on `image`: the entry that carried the name goes (the tag moves), an image left
 * without any entry keeps an unnamed one (manifest.json still lists it), and the new entry is named as Docker
 * 25+ names it.
 */
function retagIndex(index: LayoutIndex, image: Descriptor, repoTag: string): LayoutIndex {
  const moved = index.entries.filter((e) => containerdNameMatches(e.desc.annotations?.[CONTAINERD_NAME], repoTag));
  let out = removeEntries(index, (e) => moved.includes(e));
  for (const e of moved)
    if (!out.entries.some((k) => k.desc.digest.equals(e.desc.digest))) out = addUnnamed(out, taggedEntry(e.desc, undefined).desc);
  return { doc: out.doc, entries: [...out.entries, taggedEntry(image, repoTag)] };
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
