// The layout's index.json as data: parsing (every descriptor validated, so no
// invalid digest ever becomes a path), lookup by ref.name or digest, and the
// edits a writer makes (move a tag, add an unnamed image, remove references).
// No I/O here.
import { IntegrityError } from "../../errors.js";
import type { Digest } from "../../oci/digest.js";
import { descriptorToJSON, parseDescriptor, type Descriptor } from "../../oci/manifest.js";
import { MediaType } from "../../oci/mediatype.js";
import { isObject } from "../../json.js";

export const REF_NAME = "org.opencontainers.image.ref.name";

/** index.json of any real layout is far below this; a bigger one is refused unread. */
export const MAX_INDEX_JSON_BYTES = 16 * 1024 * 1024;

type Json = Record<string, unknown>;

/** One entry of index.json: the validated descriptor and the object as found (unknown fields survive a rewrite). */
export interface IndexEntry {
  desc: Descriptor;
  raw: Json;
}

export interface LayoutIndex {
  /** The document's other fields (annotations, mediaType, …), kept as found. */
  doc: Json;
  entries: IndexEntry[];
}

export function emptyIndex(): LayoutIndex {
  return { doc: { schemaVersion: 2, mediaType: MediaType.OciIndex }, entries: [] };
}

/** Parses index.json bytes; any invalid descriptor refuses the whole file. */
export function parseIndexJson(bytes: Uint8Array, where: string): LayoutIndex {
  // Named with its layout or archive: "index.json is not valid JSON" alone leaves the user guessing which one.
  const name = `index.json in ${where}`;
  const invalid = (why: string): IntegrityError => new IntegrityError(`${name} ${why}`, { code: "E_MANIFEST_INVALID", where });
  if (bytes.length > MAX_INDEX_JSON_BYTES) {
    throw new IntegrityError(`${name} is larger than the ${MAX_INDEX_JSON_BYTES}-byte limit`, { code: "E_TOO_LARGE", where });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (err) {
    throw invalid(`is not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!isObject(doc)) throw invalid("is not a JSON object");
  if (doc.schemaVersion !== 2) throw invalid("has a schemaVersion other than 2");
  const manifests = doc.manifests ?? [];
  if (!Array.isArray(manifests)) throw invalid("has a manifests field that is not an array");
  const entries = manifests.map((m: unknown): IndexEntry => {
    const desc = parseDescriptor(m, name);
    return { desc, raw: m as Json };
  });
  return { doc, entries };
}

export function serializeIndexJson(index: LayoutIndex): string {
  const out: Json = { schemaVersion: 2, mediaType: MediaType.OciIndex, ...index.doc, manifests: index.entries.map((e) => e.raw) };
  return JSON.stringify(out);
}

export function refName(e: IndexEntry): string | undefined {
  return e.desc.annotations?.[REF_NAME];
}

export function entriesNamed(index: LayoutIndex, name: string): IndexEntry[] {
  return index.entries.filter((e) => refName(e) === name);
}

export function entriesWithDigest(index: LayoutIndex, digest: Digest): IndexEntry[] {
  return index.entries.filter((e) => e.desc.digest.equals(digest));
}

/** Every ref.name in index order, each once. */
export function listNames(index: LayoutIndex): string[] {
  const names = index.entries.map(refName).filter((n): n is string => n !== undefined);
  return [...new Set(names)];
}

/** The entry a new image or tag gets: the descriptor's own fields, with ref.name set or left out. */
export function makeEntry(desc: Descriptor, name?: string): IndexEntry {
  const annotations = { ...(desc.annotations ?? {}) };
  delete annotations[REF_NAME];
  if (name !== undefined) annotations[REF_NAME] = name;
  const d: Descriptor = { ...desc };
  if (Object.keys(annotations).length > 0) d.annotations = annotations;
  else delete d.annotations;
  return { desc: d, raw: descriptorToJSON(d) };
}

/**
 * Points `name` at `desc`: entries that carried the name are dropped (the tag
 * moves, it is never duplicated), as containers/image does, then the new entry
 * is appended.
 */
export function setNamed(index: LayoutIndex, desc: Descriptor, name: string): LayoutIndex {
  const kept = index.entries.filter((e) => refName(e) !== name);
  return { doc: index.doc, entries: [...kept, makeEntry(desc, name)] };
}

/** Adds `desc` without a name, unless an identical unnamed entry is there already. */
export function addUnnamed(index: LayoutIndex, desc: Descriptor): LayoutIndex {
  const dup = index.entries.some(
    (e) => refName(e) === undefined && e.desc.digest.equals(desc.digest) && e.desc.mediaType === desc.mediaType,
  );
  if (dup) return index;
  return { doc: index.doc, entries: [...index.entries, makeEntry(desc)] };
}

export function removeEntries(index: LayoutIndex, drop: (e: IndexEntry) => boolean): LayoutIndex {
  return { doc: index.doc, entries: index.entries.filter((e) => !drop(e)) };
}
