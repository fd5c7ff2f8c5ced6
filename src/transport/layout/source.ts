// An OCI layout as an ImageSource: manifests read whole (size-capped,
// verified), blobs streamed. The same class reads an oci-archive, whose blobs
// are byte ranges of the tar instead of files (archive/oci-archive.ts).
import type { Readable } from "node:stream";
import type { Digest } from "../../oci/digest.js";
import { parseManifest, type Descriptor, type RawManifest } from "../../oci/manifest.js";
import type { LayoutLocation } from "../../ref/location.js";
import type { BlobReadOptions, ImageSource } from "../types.js";
import type { LayoutIndex } from "./index-json.js";
import { findDescriptor, resolveRef, type BlobReader } from "./resolve.js";

/** Where a layout's blobs are read from: its directory (OciLayout) or an oci-archive (ArchiveBlobs). */
export interface BlobStore extends BlobReader {
  /** The blob's size; E_NOT_FOUND when absent. */
  blobSize(digest: Digest): Promise<number>;
  /** A stream of the blob, its size checked when given. */
  openBlob(digest: Digest, opts: { size?: number; signal?: AbortSignal }): Readable | Promise<Readable>;
}

export class LayoutSource implements ImageSource {
  private top: Descriptor | undefined;
  private closed = false;

  constructor(
    readonly location: LayoutLocation,
    private readonly blobs: BlobStore,
    /** index.json as read at open: a source sees one consistent state even while a writer commits. */
    private readonly index: LayoutIndex,
    /** Releases what the store holds (an archive's spooled copy); nothing for a directory. */
    private readonly cleanup: () => Promise<void> = async () => undefined,
  ) {}

  /** The descriptor the location names (resolved once). */
  async topDescriptor(): Promise<Descriptor> {
    this.top ??= await resolveRef(this.blobs, this.index, this.location.ref);
    return this.top;
  }

  async getManifest(digest?: Digest): Promise<RawManifest> {
    const desc = digest === undefined ? await this.topDescriptor() : await this.describe(digest);
    const where = `${this.blobs.root} ${desc.digest}`;
    const bytes = await this.blobs.readBlob(desc.digest, { size: desc.size });
    // Parsing checks the declared type against the document and yields the type when the descriptor lacks a useful one.
    const parsed = parseManifest(bytes, desc.mediaType === "" ? undefined : desc.mediaType, where);
    return { bytes, mediaType: parsed.mediaType, digest: desc.digest };
  }

  /** A descriptor for a manifest digest: as referenced in the index, else a bare one (the blob's own type decides). */
  private async describe(digest: Digest): Promise<Descriptor> {
    const top = await this.topDescriptor().catch(() => undefined);
    if (top?.digest.equals(digest)) return top;
    const found = await findDescriptor(this.blobs, this.index, digest);
    if (found) return found;
    return { mediaType: "", digest, size: await this.blobs.blobSize(digest) };
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
