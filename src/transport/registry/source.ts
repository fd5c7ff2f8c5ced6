import type { Readable } from "node:stream";
import type { Digest } from "../../oci/digest.js";
import type { Descriptor, RawManifest } from "../../oci/manifest.js";
import { DEFAULT_TAG } from "../../ref/reference.js";
import type { RegistryLocation } from "../../ref/location.js";
import type { BlobReadOptions, ImageSource } from "../types.js";
import type { RegistryClient } from "./client.js";

/** What a registry location names: its digest when it has one (the stronger reference), else its tag. */
export function referenceOf(loc: RegistryLocation): string {
  return loc.ref.digest?.toString() ?? loc.ref.tag ?? DEFAULT_TAG;
}

/** Reads images from a registry repository. */
export class RegistrySource implements ImageSource {
  constructor(
    readonly location: RegistryLocation,
    readonly client: RegistryClient,
  ) {}

  /** The location's manifest (digest-checked), or a child by digest. */
  async getManifest(digest?: Digest, opts?: BlobReadOptions): Promise<RawManifest> {
    return this.client.getManifest(this.location.ref.path, digest?.toString() ?? referenceOf(this.location), opts?.signal);
  }

  async getBlob(desc: Descriptor, opts?: BlobReadOptions): Promise<Readable> {
    return this.client.getBlob(this.location.ref.path, desc, opts?.signal);
  }

  async close(): Promise<void> {
    // Connections belong to the process-wide pool and are reused by the next source.
  }
}
