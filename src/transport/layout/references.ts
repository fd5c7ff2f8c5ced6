// The reference face of a layout (ls, tag, delete): ref.name annotations in
// index.json. Every change is a read-modify-write under the layout lock.
import { requireReference } from "../../ref/location.js";
import { NotFoundError, UsageError } from "../../errors.js";
import type { LayoutLocation } from "../../ref/location.js";
import { isValidTag } from "../../ref/reference.js";
import type { DeleteResult, ReferenceStore } from "../types.js";
import { reachableBlobs, sweepBlobs, type GcResult } from "./gc.js";
import { listNames, refName, removeEntries, setNamed } from "./index-json.js";
import type { OciLayout } from "./layout.js";
import { entriesToDelete, resolveRef } from "./resolve.js";

export interface LayoutDeleteResult extends DeleteResult {
  /** Unreferenced blobs kept because another dray was writing into the layout. */
  blobsSpared: number;
}

export class LayoutReferences implements ReferenceStore {
  constructor(
    readonly location: LayoutLocation,
    readonly layout: OciLayout,
  ) {}

  async listTags(): Promise<string[]> {
    return listNames(await this.layout.readIndex());
  }

  /** Gives the image the location names a (new or moved) ref.name; no blob moves. */
  async addTag(tag: string): Promise<void> {
    if (!isValidTag(tag)) throw new UsageError(`invalid tag "${tag}"`, { code: "E_REF_INVALID" });
    await this.layout.updateIndex(async (index) => {
      const desc = await resolveRef(this.layout, index, this.location.ref);
      if (!(await this.layout.hasBlob(desc.digest))) {
        throw new NotFoundError(`manifest ${desc.digest} is not in OCI layout ${this.layout.root}`, { where: this.layout.root });
      }
      return { index: setNamed(index, desc, tag), result: undefined };
    });
  }

  /** Removes the entries the location names from index.json, then every blob nothing reaches any more. */
  async deleteReference(): Promise<LayoutDeleteResult> {
    requireReference(this.location, "delete");
    return this.layout.lockFile().with(async () => {
      const index = await this.layout.readIndex();
      const { drop, digest } = await entriesToDelete(this.layout, index, this.location.ref);
      const after = removeEntries(index, (e) => drop.includes(e));
      // Walk what stays before changing anything: a manifest we cannot read refuses the whole delete.
      const reachable = await reachableBlobs(this.layout, after);
      await this.layout.writeIndex(after);
      const gc: GcResult = await sweepBlobs(this.layout, reachable);
      const asked = this.location.ref?.kind === "tag" ? this.location.ref.tag : undefined;
      const alsoRemovedTags = [...new Set(drop.map(refName).filter((n): n is string => n !== undefined && n !== asked))];
      return {
        digest: digest.digest,
        alsoRemovedTags,
        blobsRemoved: gc.removed,
        blobsSpared: gc.spared,
        ...(after.entries.some((e) => e.desc.digest.equals(digest.digest)) ? { imageKept: true } : {}),
      };
    });
  }

  async close(): Promise<void> {
    // Nothing held between calls.
  }
}
