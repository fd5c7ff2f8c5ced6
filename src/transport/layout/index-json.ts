// The layout's index.json as data: parsing (every descriptor validated, so no
// invalid digest ever becomes a path), lookup by ref.name or digest, and the
// edits a writer makes (move a tag, add an unnamed image, remove references).
// No I/O here.
import { IntegrityError } from "../../errors.js";
import type { Digest } from "../../oci/digest.js";
import { descriptorToJSON, parseDescriptor, type Descriptor, type RawManifest } from "../../oci/manifest.js";
import type { LayoutRef } from "../../ref/location.js";
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

/** An index.json entry whose descriptor is invalid (containers/image's name_lookups has a mediaType `x-completely-unknown`). */
export interface InvalidEntry {
  raw: unknown;
  /** Its ref.name, when it has one. */
  name?: string;
  error: IntegrityError;
}

export interface LayoutIndex {
  /** The document's other fields (annotations, mediaType, …), kept as found. */
  doc: Json;
  entries: IndexEntry[];
  /**
   * Entries left out for an invalid descriptor: the rest of the layout stays usable, as containers/image
   * resolves the valid names; asking for one of these by name is its error; a rewrite keeps them as found.
   */
  invalid?: InvalidEntry[];
}

export function emptyIndex(): LayoutIndex {
  return { doc: { schemaVersion: 2, mediaType: MediaType.OciIndex }, entries: [] };
}

/** Parses index.json bytes; an entry with an invalid descriptor is set aside (`invalid`), the file as a whole must be valid. */
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
  const entries: IndexEntry[] = [];
  const skipped: InvalidEntry[] = [];
  for (const m of manifests as unknown[]) {
    try {
      entries.push({ desc: parseDescriptor(m, name), raw: m as Json });
    } catch (err) {
      if (!(err instanceof IntegrityError)) throw err;
      const annotations = isObject(m) && isObject(m.annotations) ? m.annotations : undefined;
      const ref = annotations?.[REF_NAME];
      skipped.push({ raw: m, ...(typeof ref === "string" ? { name: ref } : {}), error: err });
    }
  }
  return skipped.length > 0 ? { doc, entries, invalid: skipped } : { doc, entries };
}

/** A warning for each entry set aside, for the user (stderr in the CLI). */
export function invalidEntryNotices(index: LayoutIndex, except?: string): string[] {
  return (index.invalid ?? [])
    .filter((e) => except === undefined || e.name !== except)
    .map((e) => `warning: skipping the index.json entry ${e.name === undefined ? "without a name" : `"${e.name}"`}: ${e.error.message}`);
}

/**
 * The error of the invalid entry named `name`, if that is why no valid entry has the name; failing that, of an
 * invalid entry whose name could not be read, since it may be the one asked for ("t not found" would hide why).
 */
export function invalidEntryNamed(index: LayoutIndex, name: string): IntegrityError | undefined {
  const bad = index.invalid?.find((e) => e.name === name);
  if (bad) return new IntegrityError(`the index.json entry "${name}" is invalid: ${bad.error.message}`, { code: "E_MANIFEST_INVALID" });
  const unnamed = index.invalid?.find((e) => e.name === undefined);
  return (
    unnamed &&
    new IntegrityError(
      `no valid index.json entry is named "${name}", and an entry without a readable name is invalid: ${unnamed.error.message}`,
      {
        code: "E_MANIFEST_INVALID",
      },
    )
  );
}

export function serializeIndexJson(index: LayoutIndex): string {
  const kept = (index.invalid ?? []).map((e) => e.raw);
  const out: Json = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    ...index.doc,
    manifests: [...index.entries.map((e) => e.raw), ...kept],
  };
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

/** Every ref.name, each once, sorted (sortedNames). */
export function listNames(index: LayoutIndex): string[] {
  const names = index.entries.map(refName).filter((n): n is string => n !== undefined);
  return sortedNames(names);
}

/**
 * Names once each, sorted as a registry lists its tags (distribution sorts them lexically, by bytes; tag
 * grammar is ASCII, where that is JavaScript's default order), not in the order they were written: `dray ls`
 * of a layout or archive prints what `dray ls` of the registry it came from prints.
 */
export function sortedNames(names: Iterable<string>): string[] {
  return [...new Set(names)].sort();
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
  // An invalid entry of that name is replaced too, as a valid one would be.
  return withEntries(
    index,
    [...kept, makeEntry(desc, name)],
    index.invalid?.filter((e) => e.name !== name),
  );
}

/** Adds `desc` without a name, unless an identical unnamed entry is there already. */
export function addUnnamed(index: LayoutIndex, desc: Descriptor): LayoutIndex {
  const dup = index.entries.some(
    (e) => refName(e) === undefined && e.desc.digest.equals(desc.digest) && e.desc.mediaType === desc.mediaType,
  );
  if (dup) return index;
  return withEntries(index, [...index.entries, makeEntry(desc)]);
}

export function removeEntries(index: LayoutIndex, drop: (e: IndexEntry) => boolean): LayoutIndex {
  return withEntries(
    index,
    index.entries.filter((e) => !drop(e)),
  );
}

/** `index` with other valid entries; the invalid ones it set aside are kept (they are someone else's). */
export function withEntries(index: LayoutIndex, entries: IndexEntry[], invalid = index.invalid): LayoutIndex {
  return invalid && invalid.length > 0 ? { doc: index.doc, entries, invalid } : { doc: index.doc, entries };
}

/**
 * The ref.name a manifest put into a layout or an OCI archive gets: the tag
 * given, else the destination's tag for the top-level image; undefined for an
 * unnamed top-level entry, null for a manifest that gets no entry (a child).
 * A destination named by digest must receive exactly that image.
 */
export function entryNameFor(
  m: RawManifest,
  opts: { tag?: string; isTop?: boolean },
  ref: LayoutRef | undefined,
  where: string,
): string | undefined | null {
  if (opts.tag !== undefined) return opts.tag;
  if (!opts.isTop) return null;
  if (ref?.kind === "tag") return ref.tag;
  if (ref?.kind === "digest" && !ref.digest.equals(m.digest)) {
    throw new IntegrityError(`destination names ${ref.digest} but the image is ${m.digest}`, { code: "E_DIGEST_MISMATCH", where });
  }
  return undefined;
}
