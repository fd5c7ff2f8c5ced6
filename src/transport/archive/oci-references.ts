// The reference face of an oci-archive (ls, tag, delete): ref.name
// annotations in its index.json, with the same resolution rules as an OCI
// layout. A change rewrites the archive (temporary file renamed over it),
// leaving out blobs nothing references any more.
import { requireReference } from "../../ref/location.js";
import { NotFoundError, UsageError } from "../../errors.js";
import type { LayoutLocation } from "../../ref/location.js";
import { isValidTag } from "../../ref/reference.js";
import type { DeleteResult, ReferenceStore, TransportOptions } from "../types.js";
import { reachableBlobs } from "../layout/gc.js";
import { listNames, refName, removeEntries, serializeIndexJson, setNamed, type LayoutIndex } from "../layout/index-json.js";
import { entriesToDelete, resolveRef } from "../layout/resolve.js";
import { openOciArchive, type OpenedOciArchive } from "./oci-archive.js";
import { rewriteArchive } from "./rewrite.js";

export class OciArchiveReferences implements ReferenceStore {
  constructor(
    readonly location: LayoutLocation,
    private readonly opts: TransportOptions,
  ) {}

  /** Each call re-reads the archive: another process may have rewritten it. */
  private async withArchive<T>(fn: (a: OpenedOciArchive) => Promise<T>): Promise<T> {
    const archive = await openOciArchive(this.location, this.opts);
    try {
      return await fn(archive);
    } finally {
      await archive.cleanup();
    }
  }

  async listTags(): Promise<string[]> {
    return this.withArchive(async (a) => listNames(a.index));
  }

  async addTag(tag: string): Promise<void> {
    if (!isValidTag(tag)) throw new UsageError(`invalid tag "${tag}"`, { code: "E_REF_INVALID" });
    await this.withArchive(async ({ blobs, index }) => {
      const desc = await resolveRef(blobs, index, this.location.ref);
      if (!(await blobs.hasBlob(desc.digest))) {
        throw new NotFoundError(`manifest ${desc.digest} is not in ${blobs.root}`, { where: blobs.root });
      }
      await rewriteArchive(blobs.tar, this.location.path, { drop: new Set(), replace: indexJson(setNamed(index, desc, tag)) });
    });
  }

  async deleteReference(): Promise<DeleteResult> {
    requireReference(this.location, "delete");
    return this.withArchive(async ({ blobs, index }) => {
      const { drop, digest } = await entriesToDelete(blobs, index, this.location.ref);
      const after = removeEntries(index, (e) => drop.includes(e));
      const reachable = await reachableBlobs(blobs, after);
      const unreferenced = new Set(
        blobs.tar.entries
          .filter((e) => e.name.startsWith("blobs/") && e.kind !== "directory" && !reachable.has(blobDigest(e.name)))
          .map((e) => e.name),
      );
      await rewriteArchive(blobs.tar, this.location.path, { drop: unreferenced, replace: indexJson(after) });
      const asked = this.location.ref?.kind === "tag" ? this.location.ref.tag : undefined;
      const alsoRemovedTags = [...new Set(drop.map(refName).filter((n): n is string => n !== undefined && n !== asked))];
      return {
        digest: digest.digest,
        alsoRemovedTags,
        blobsRemoved: unreferenced.size,
        ...(after.entries.some((e) => e.desc.digest.equals(digest.digest)) ? { imageKept: true } : {}),
      };
    });
  }

  async close(): Promise<void> {
    // Nothing held between calls.
  }
}

function indexJson(index: LayoutIndex): Map<string, Buffer> {
  return new Map([["index.json", Buffer.from(serializeIndexJson(index))]]);
}

/** `blobs/sha256/abc` → `sha256:abc` (names were checked when the archive was opened). */
function blobDigest(name: string): string {
  const [, alg, hex] = name.split("/");
  return `${alg}:${hex}`;
}
