// The OCI side of a Docker 25+ `docker save` archive. Since Docker 25 the
// tar is also an OCI image layout: index.json lists each saved image's
// manifest, with its name in `io.containerd.image.name` (the full reference)
// and `org.opencontainers.image.ref.name` (the tag), and every blob sits under
// blobs/ALG/HEX (moby daemon/internal/image/tarexport/save.go). Reading
// through index.json serves the image's real manifest, so its digest is the
// one it had; manifest.json is the way only for older archives.
import type { Digest } from "../../oci/digest.js";
import { parseManifest, type Descriptor } from "../../oci/manifest.js";
import { isIndexType, isManifestType } from "../../oci/mediatype.js";
import type { ImageReference } from "../../ref/reference.js";
import { MAX_INDEX_JSON_BYTES, parseIndexJson, refName, type LayoutIndex } from "../layout/index-json.js";
import { formatRepoTag, parseRepoTag } from "./docker-format.js";
import type { ArchiveBlobs } from "./oci-archive.js";
import type { TarIndex } from "./tar-index.js";

/** The annotation containerd and Docker 25+ put the image's full reference in. */
export const CONTAINERD_NAME = "io.containerd.image.name";

/** index.json of the archive, or undefined for an archive that is not also an OCI layout. */
export async function readArchiveIndex(tar: TarIndex, where: string): Promise<LayoutIndex | undefined> {
  if (!tar.has("index.json") || !tar.has("oci-layout")) return undefined;
  const bytes = await tar.readBytes(tar.resolveFile("index.json", "index.json", false), MAX_INDEX_JSON_BYTES, "index.json");
  return parseIndexJson(bytes, where);
}

/** The reference an index.json entry names: the containerd name, else a ref.name that is a whole reference. */
export function entryReference(desc: Descriptor, refNameValue: string | undefined): ImageReference | undefined {
  const name =
    desc.annotations?.[CONTAINERD_NAME] ?? (refNameValue?.includes(":") || refNameValue?.includes("/") ? refNameValue : undefined);
  return name === undefined ? undefined : parseRepoTag(name);
}

/** The index.json entries named `ref` (by containerd name or a full ref.name). */
export function entriesForReference(index: LayoutIndex, ref: ImageReference): Descriptor[] {
  const wanted = formatRepoTag(ref);
  return index.entries
    .filter((e) => {
      const named = entryReference(e.desc, refName(e));
      return named !== undefined && formatRepoTag(named) === wanted;
    })
    .map((e) => e.desc);
}

/** The config digest of an image manifest blob, or undefined when the blob is missing or no image manifest. */
async function configOf(blobs: ArchiveBlobs, desc: Descriptor): Promise<Digest | undefined> {
  if (!isManifestType(desc.mediaType) || !(await blobs.hasBlob(desc.digest))) return undefined;
  const parsed = parseManifest(await blobs.readBlob(desc.digest, { size: desc.size }), desc.mediaType, `${blobs.root} ${desc.digest}`);
  return parsed.kind === "manifest" ? parsed.config.digest : undefined;
}

/**
 * The manifest (or index) in index.json that describes the image whose
 * config is `config`. An index (a containerd-store save keeps it) is served
 * whole when every child is in the archive, else just the matching child.
 */
export async function findOciImage(blobs: ArchiveBlobs, index: LayoutIndex, config: Digest): Promise<Descriptor | undefined> {
  for (const { desc } of index.entries) {
    if ((await configOf(blobs, desc))?.equals(config)) return desc;
    if (!isIndexType(desc.mediaType) || !(await blobs.hasBlob(desc.digest))) continue;
    const parsed = parseManifest(await blobs.readBlob(desc.digest, { size: desc.size }), desc.mediaType, `${blobs.root} ${desc.digest}`);
    if (parsed.kind !== "index") continue;
    for (const child of parsed.manifests) {
      if (!(await configOf(blobs, child))?.equals(config)) continue;
      const present = await Promise.all(parsed.manifests.map((c) => blobs.hasBlob(c.digest)));
      return present.every(Boolean) ? desc : child;
    }
  }
  return undefined;
}
