// An OCI layout as an ImageSource: manifests read whole (size-capped,
// verified), blobs streamed from their files.
import type { Readable } from "node:stream";
import type { Digest } from "../../oci/digest.js";
import { parseManifest, type Descriptor, type RawManifest } from "../../oci/manifest.js";
import type { LayoutLocation } from "../../ref/location.js";
import type { BlobReadOptions, ImageSource } from "../types.js";
import type { LayoutIndex } from "./index-json.js";
import type { OciLayout } from "./layout.js";
import { findDescriptor, resolveRef } from "./resolve.js";

export class LayoutSource implements ImageSource {
  private top: Descriptor | undefined;

  constructor(
    readonly location: LayoutLocation,
    readonly layout: OciLayout,
    /** index.json as read at open: a source sees one consistent state even while a writer commits. */
    private readonly index: LayoutIndex,
  ) {}

  /** The descriptor the location names (resolved once). */
  async topDescriptor(): Promise<Descriptor> {
    this.top ??= await resolveRef(this.layout, this.index, this.location.ref);
    return this.top;
  }

  async getManifest(digest?: Digest): Promise<RawManifest> {
    const desc = digest === undefined ? await this.topDescriptor() : await this.describe(digest);
    const where = `${this.layout.root} ${desc.digest}`;
    const bytes = await this.layout.readBlob(desc.digest, { size: desc.size });
    // Parsing checks the declared type against the document and yields the type when the descriptor lacks a useful one.
    const parsed = parseManifest(bytes, desc.mediaType === "" ? undefined : desc.mediaType, where);
    return { bytes, mediaType: parsed.mediaType, digest: desc.digest };
  }

  /** A descriptor for a manifest digest: as referenced in the layout, else a bare one (the blob's own type decides). */
  private async describe(digest: Digest): Promise<Descriptor> {
    const top = await this.topDescriptor().catch(() => undefined);
    if (top?.digest.equals(digest)) return top;
    const found = await findDescriptor(this.layout, this.index, digest);
    if (found) return found;
    const size = await this.layout.statBlob(digest);
    if (size === undefined) {
      // Let the read report a clear E_NOT_FOUND with the path.
      await this.layout.resolveBlob(digest);
    }
    return { mediaType: "", digest, size: size ?? -1 };
  }

  async getBlob(desc: Descriptor, opts: BlobReadOptions = {}): Promise<Readable> {
    return this.layout.openBlob(desc.digest, { size: desc.size, signal: opts.signal });
  }

  async close(): Promise<void> {
    // Nothing held open: each blob stream owns its file handle.
  }
}
