// Garbage collection of a layout's blobs: whatever index.json no longer
// reaches (through manifests, indexes, configs, layers and subjects) is
// removed. Runs under the layout lock; blobs a live writer may be about to
// commit (written or touched since it started) are spared.
import { IntegrityError } from "../../errors.js";
import { parseManifest, type Descriptor, type ParsedManifest } from "../../oci/manifest.js";
import { isIndexType, isManifestType } from "../../oci/mediatype.js";
import type { LayoutIndex } from "./index-json.js";
import type { OciLayout } from "./layout.js";
import type { BlobReader } from "./resolve.js";

export interface GcResult {
  /** Blobs removed. */
  removed: number;
  /** Unreferenced blobs kept because a writer in progress may need them. */
  spared: number;
}

/** Digests (as strings) of every blob reachable from index.json. */
export async function reachableBlobs(layout: BlobReader, index: LayoutIndex): Promise<Set<string>> {
  const seen = new Set<string>();
  const queue: Descriptor[] = index.entries.map((e) => e.desc);
  while (queue.length > 0) {
    const d = queue.pop()!;
    const key = d.digest.toString();
    if (seen.has(key)) continue;
    seen.add(key);
    if (!isManifestType(d.mediaType) && !isIndexType(d.mediaType)) continue; // a leaf: config, layer, unknown artifact
    if (!(await layout.hasBlob(d.digest))) continue; // nothing to walk; what it named is unreachable anyway
    let parsed: ParsedManifest;
    try {
      parsed = parseManifest(await layout.readBlob(d.digest, { size: d.size }), d.mediaType, `${layout.root} ${d.digest}`);
    } catch (err) {
      // If we cannot tell what a manifest references, removing anything could break it: refuse the whole GC.
      const why = err instanceof Error ? err.message : String(err);
      throw new IntegrityError(`cannot collect unreferenced blobs: manifest ${d.digest} is unreadable (${why})`, {
        code: "E_MANIFEST_INVALID",
        where: layout.root,
        cause: err,
      });
    }
    if (parsed.kind === "index") queue.push(...parsed.manifests);
    else queue.push(parsed.config, ...parsed.layers);
    if (parsed.subject) queue.push(parsed.subject);
  }
  return seen;
}

/** Removes every blob index.json does not reach. The caller holds the layout lock. */
export async function collectGarbage(layout: OciLayout, index: LayoutIndex): Promise<GcResult> {
  return sweepBlobs(layout, await reachableBlobs(layout, index));
}

/**
 * Removes every blob not in `reachable` (from reachableBlobs), sparing those
 * written or touched since the oldest live writer started. The caller holds
 * the layout lock.
 */
export async function sweepBlobs(layout: OciLayout, reachable: Set<string>): Promise<GcResult> {
  const writersSince = await layout.liveWritersSince();
  let removed = 0;
  let spared = 0;
  for (const blob of await layout.listBlobs()) {
    if (reachable.has(blob.digest.toString())) continue;
    if (writersSince !== undefined && blob.mtimeMs >= writersSince) {
      spared++;
      continue;
    }
    await layout.removeBlob(blob.digest);
    removed++;
  }
  return { removed, spared };
}
