// Which descriptor a layout REF names: a ref.name annotation, a digest of an
// index.json entry or of a manifest nested inside an index found in the
// layout, or (no REF) the layout's only image.
import { IntegrityError, NotFoundError, UnsupportedError, UsageError } from "../../errors.js";
import type { Digest } from "../../oci/digest.js";
import { parseManifest, type Descriptor } from "../../oci/manifest.js";
import { isIndexType } from "../../oci/mediatype.js";
import type { LayoutRef } from "../../ref/location.js";
import { entriesNamed, entriesWithDigest, listNames, refName, type IndexEntry, type LayoutIndex } from "./index-json.js";
import type { OciLayout } from "./layout.js";

/** What reference resolution and reachability read: a layout directory, or an oci-archive's blobs (archive/oci-archive.ts). */
export type BlobReader = Pick<OciLayout, "root" | "hasBlob" | "readBlob">;

/** Nested indexes deeper than this, or more manifests than this, are not a real layout. */
const MAX_DEPTH = 8;
const MAX_VISITS = 10_000;

export async function resolveRef(layout: BlobReader, index: LayoutIndex, ref: LayoutRef | undefined): Promise<Descriptor> {
  if (ref === undefined) return onlyImage(layout, index);
  if (ref.kind === "tag") return byName(layout, index, ref.tag);
  const desc = await findDescriptor(layout, index, ref.digest);
  if (!desc) throw new NotFoundError(`manifest ${ref.digest} not found in OCI layout ${layout.root}`, { where: layout.root });
  return desc;
}

function byName(layout: BlobReader, index: LayoutIndex, name: string): Descriptor {
  const found = entriesNamed(index, name);
  if (found.length === 0) {
    const names = listNames(index);
    const have = names.length > 0 ? ` (it has: ${names.slice(0, 20).join(", ")}${names.length > 20 ? ", …" : ""})` : "";
    throw new NotFoundError(`tag "${name}" not found in OCI layout ${layout.root}${have}`, { where: layout.root });
  }
  const digests = new Set(found.map((e) => e.desc.digest.toString()));
  if (digests.size > 1) {
    const form = refForm(layout).replace(/:REF$/, "");
    const choices = [...digests].map((d) => `${form}:${d}`).join(", ");
    throw new IntegrityError(`OCI layout ${layout.root} names ${digests.size} different images "${name}"; name one by digest: ${choices}`, {
      code: "E_MANIFEST_INVALID",
      where: layout.root,
    });
  }
  return found[0]!.desc;
}

/**
 * How the user names an image here: `oci:DIR:REF` for a layout, and for an
 * oci-archive (read through the same code, see asLayout) `oci-archive:FILE:REF`,
 * never `oci:FILE.tar:REF` or `oci:oci-archive:-:REF`.
 */
function refForm(layout: BlobReader): string {
  if (!("tar" in layout)) return `oci:${layout.root}:REF`; // ArchiveBlobs carries its tar index; a layout does not
  return layout.root.startsWith("oci-archive:") ? `${layout.root}:REF` : `oci-archive:${layout.root}:REF`;
}

function onlyImage(layout: BlobReader, index: LayoutIndex): Descriptor {
  const digests = [...new Set(index.entries.map((e) => e.desc.digest.toString()))];
  if (digests.length === 1) return index.entries[0]!.desc;
  if (digests.length === 0) throw new NotFoundError(`OCI layout ${layout.root} holds no image`, { where: layout.root });
  const choices = index.entries.map((e) => refName(e) ?? e.desc.digest.toString());
  const list = [...new Set(choices)].slice(0, 20).join(", ");
  throw new UsageError(`${layout.root} holds ${digests.length} images; name one as ${refForm(layout)} (${list})`, {
    code: "E_USAGE",
    where: layout.root,
  });
}

/**
 * The index.json entries `dray delete` removes for `ref`, and the descriptor it
 * reports: every entry of a name (after resolveRef, so a name two images share
 * is refused as `digest` and `copy` refuse it, not both deleted), every entry of a
 * digest, or the only image. A manifest only an index lists is not deleted alone.
 */
export async function entriesToDelete(
  layout: BlobReader,
  index: LayoutIndex,
  ref: LayoutRef | undefined,
): Promise<{ drop: IndexEntry[]; digest: Descriptor }> {
  if (ref?.kind === "digest") {
    const drop = entriesWithDigest(index, ref.digest);
    if (drop.length > 0) return { drop, digest: drop[0]!.desc };
    if (await findDescriptor(layout, index, ref.digest)) {
      throw new UnsupportedError(`${ref.digest} is a manifest inside an index in ${layout.root}; delete the index that lists it`, {
        where: layout.root,
      });
    }
    throw new NotFoundError(`manifest ${ref.digest} not found in ${layout.root}`, { where: layout.root });
  }
  const digest = await resolveRef(layout, index, ref); // not found, ambiguous and "several images" all throw here
  const drop = ref?.kind === "tag" ? entriesNamed(index, ref.tag) : entriesWithDigest(index, digest.digest);
  return { drop, digest };
}

/**
 * The descriptor of `digest` as the layout references it: an index.json
 * entry, else a child of an index reachable from index.json (breadth first).
 */
export async function findDescriptor(layout: BlobReader, index: LayoutIndex, digest: Digest): Promise<Descriptor | undefined> {
  const top = entriesWithDigest(index, digest);
  if (top.length > 0) return top[0]!.desc;
  let level = index.entries.map((e) => e.desc).filter((d) => isIndexType(d.mediaType));
  const seen = new Set<string>();
  for (let depth = 0; depth < MAX_DEPTH && level.length > 0; depth++) {
    const next: Descriptor[] = [];
    for (const d of level) {
      if (seen.has(d.digest.toString())) continue;
      seen.add(d.digest.toString());
      if (seen.size > MAX_VISITS) return undefined;
      const children = await childrenOf(layout, d);
      const hit = children.find((c) => c.digest.equals(digest));
      if (hit) return hit;
      next.push(...children.filter((c) => isIndexType(c.mediaType)));
    }
    level = next;
  }
  return undefined;
}

/** The manifests an index lists; an index blob that is missing is skipped (another image may still match). */
async function childrenOf(layout: BlobReader, d: Descriptor): Promise<Descriptor[]> {
  if (!(await layout.hasBlob(d.digest))) return [];
  const bytes = await layout.readBlob(d.digest, { size: d.size });
  const parsed = parseManifest(bytes, d.mediaType, `${layout.root} ${d.digest}`);
  return parsed.kind === "index" ? parsed.manifests : [];
}
