// An oci-archive as an ImageSource: the same resolution as an OCI layout
// (ref.name annotation, digest, nested index, only image), reading from the
// archive's byte ranges instead of files.
import type { Readable } from "node:stream";
import type { Digest } from "../../oci/digest.js";
import { parseManifest, type Descriptor, type RawManifest } from "../../oci/manifest.js";
import type { LayoutLocation } from "../../ref/location.js";
import type { BlobReadOptions, ImageSource } from "../types.js";
import type { LayoutIndex } from "../layout/index-json.js";
import { findDescriptor, resolveRef } from "../layout/resolve.js";
import { asLayout, type ArchiveBlobs } from "./oci-archive.js";

export class OciArchiveSource implements ImageSource {
  private top: Descriptor | undefined;
  private closed = false;

  constructor(
    readonly location: LayoutLocation,
    private readonly blobs: ArchiveBlobs,
    private readonly index: LayoutIndex,
    private readonly cleanup: () => Promise<void>,
  ) {}

  /** The descriptor the location names (resolved once). */
  async topDescriptor(): Promise<Descriptor> {
    this.top ??= await resolveRef(asLayout(this.blobs), this.index, this.location.ref);
    return this.top;
  }

  async getManifest(digest?: Digest): Promise<RawManifest> {
    const desc = digest === undefined ? await this.topDescriptor() : await this.describe(digest);
    const where = `${this.blobs.root} ${desc.digest}`;
    const bytes = await this.blobs.readBlob(desc.digest, { size: desc.size });
    const parsed = parseManifest(bytes, desc.mediaType === "" ? undefined : desc.mediaType, where);
    return { bytes, mediaType: parsed.mediaType, digest: desc.digest };
  }

  /** A manifest digest as the archive references it, else a bare descriptor (the blob's own type decides). */
  private async describe(digest: Digest): Promise<Descriptor> {
    const top = await this.topDescriptor().catch(() => undefined);
    if (top?.digest.equals(digest)) return top;
    const found = await findDescriptor(asLayout(this.blobs), this.index, digest);
    if (found) return found;
    return { mediaType: "", digest, size: this.blobs.entry(digest).size };
  }

  async getBlob(desc: Descriptor, opts: BlobReadOptions = {}): Promise<Readable> {
    return this.blobs.openBlob(desc.digest, { size: desc.size, signal: opts.signal });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.cleanup();
  }
}
