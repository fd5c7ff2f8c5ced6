// The OCI image layout transport (`oci:PATH[:REF]`). The copy engine's
// dispatcher imports the three open functions; OciLayout and the pieces
// below it are exported for the archive transport, which reads and writes
// the same structure through a temporary directory.
import type { LayoutLocation } from "../../ref/location.js";
import type { TransportOptions } from "../types.js";
import { LayoutDestination } from "./destination.js";
import { entriesNamed, invalidEntryNamed, invalidEntryNotices, type LayoutIndex } from "./index-json.js";
import { OciLayout } from "./layout.js";
import { LayoutReferences } from "./references.js";
import { LayoutSource } from "./source.js";

/** The entry asked for by name is not skipped like other invalid entries but refused, when opening too. */
function refuseInvalidAsked(index: LayoutIndex, asked: string | undefined): void {
  const bad = asked !== undefined && entriesNamed(index, asked).length === 0 ? invalidEntryNamed(index, asked) : undefined;
  if (bad) throw bad;
}

/** Opens an existing layout for reading; index.json is read once, so the source sees one consistent state. */
export async function openLayoutSource(loc: LayoutLocation, opts: TransportOptions = {}): Promise<LayoutSource> {
  const layout = await OciLayout.open(loc.path);
  const index = await layout.readIndex();
  // The entry asked for is not skipped but refused (resolveRef says why), so it gets no warning.
  const asked = loc.ref?.kind === "tag" ? loc.ref.tag : undefined;
  refuseInvalidAsked(index, asked);
  for (const warning of invalidEntryNotices(index, asked)) opts.notice?.(warning);
  return new LayoutSource(loc, layout, index);
}

/** Opens (creating when missing) a layout for writing. Nothing is visible until commit(). */
export async function openLayoutDestination(loc: LayoutLocation, _opts: TransportOptions = {}): Promise<LayoutDestination> {
  const { layout, marker, created } = await OciLayout.createForWriter(loc.path);
  const dst = new LayoutDestination(loc, layout, marker, created);
  try {
    // Refuse a broken index.json now rather than after copying gigabytes; the entry asked for must not be an invalid one.
    const index = await layout.readIndex();
    refuseInvalidAsked(index, loc.ref?.kind === "tag" ? loc.ref.tag : undefined);
  } catch (err) {
    await dst.abort();
    throw err;
  }
  return dst;
}

export async function openLayoutReferences(loc: LayoutLocation, _opts: TransportOptions = {}): Promise<LayoutReferences> {
  return new LayoutReferences(loc, await OciLayout.open(loc.path));
}

export { LayoutDestination } from "./destination.js";
export { collectGarbage, reachableBlobs, sweepBlobs, type GcResult } from "./gc.js";
export {
  MAX_INDEX_JSON_BYTES,
  REF_NAME,
  addUnnamed,
  emptyIndex,
  listNames,
  parseIndexJson,
  serializeIndexJson,
  setNamed,
  type IndexEntry,
  type LayoutIndex,
} from "./index-json.js";
export { DRAY_FILE_PREFIX, LAYOUT_VERSION, OciLayout, type LayoutCreation, type WriterMarker } from "./layout.js";
export { LockFile } from "./lock.js";
export { LayoutReferences, type LayoutDeleteResult } from "./references.js";
export { findDescriptor, resolveRef } from "./resolve.js";
export { LayoutSource } from "./source.js";
