// An OCI layout as an ImageDestination. Blobs and manifests land under their
// digests as they arrive (invisible until referenced); index.json changes
// only at commit, under the layout lock, re-read so other writers' images and
// tags survive.
import type { Readable } from "node:stream";
import { IntegrityError, IoError } from "../../errors.js";
import type { Digest } from "../../oci/digest.js";
import { descriptorOf, parseRawManifest, type Descriptor, type RawManifest } from "../../oci/manifest.js";
import type { LayoutLocation } from "../../ref/location.js";
import type { BlobReadOptions, DestinationCapabilities, ImageDestination } from "../types.js";
import { addUnnamed, entriesNamed, setNamed, type LayoutIndex } from "./index-json.js";
import type { OciLayout, WriterMarker } from "./layout.js";
import { OCI_STORE_CAPABILITIES } from "../capabilities.js";

interface PendingEntry {
  desc: Descriptor;
  /** ref.name, or undefined for an unnamed image. */
  name: string | undefined;
}

export class LayoutDestination implements ImageDestination {
  readonly capabilities: DestinationCapabilities = { ...OCI_STORE_CAPABILITIES, ociLayout: true };

  private readonly pending: PendingEntry[] = [];
  /** Manifests put by this writer: at commit, everything they reference must be in the layout. */
  private readonly manifests: RawManifest[] = [];
  private finished = false;

  constructor(
    readonly location: LayoutLocation,
    readonly layout: OciLayout,
    private readonly marker: WriterMarker,
  ) {}

  async currentDigest(): Promise<Digest | undefined> {
    const ref = this.location.ref;
    if (ref === undefined) return undefined; // an unnamed image has no "current" one
    const index = await this.layout.readIndex();
    if (ref.kind === "digest") return index.entries.some((e) => e.desc.digest.equals(ref.digest)) ? ref.digest : undefined;
    const named = entriesNamed(index, ref.tag);
    return named.length === 1 ? named[0]!.desc.digest : undefined;
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    const size = await this.layout.statBlob(desc.digest);
    // A file of the wrong size is a damaged blob: answer false so it is rewritten.
    if (size === undefined || (desc.size >= 0 && size !== desc.size)) return false;
    // Refresh its time so a concurrent delete's GC spares it until we commit.
    await this.layout.touchBlob(desc.digest);
    return true;
  }

  async putBlob(desc: Descriptor, data: Readable, opts: BlobReadOptions = {}): Promise<void> {
    this.assertOpen();
    await this.layout.writeBlob(desc.digest, data, { size: desc.size, signal: opts.signal });
  }

  async putManifest(m: RawManifest, opts: { tag?: string; isTop?: boolean } = {}): Promise<void> {
    this.assertOpen();
    // Also checks the bytes against the digest: a manifest is stored under the name it claims only if true.
    parseRawManifest(m, this.layout.root);
    await this.layout.writeBlobBytes(m.digest, m.bytes);
    this.manifests.push(m);
    const name = this.entryName(m, opts);
    if (name === null) return;
    this.pending.push({ desc: descriptorOf(m), name });
  }

  /** The ref.name a put manifest gets (undefined: unnamed), or null when it is not a top-level image. */
  private entryName(m: RawManifest, opts: { tag?: string; isTop?: boolean }): string | undefined | null {
    if (opts.tag !== undefined) return opts.tag;
    if (!opts.isTop) return null;
    const ref = this.location.ref;
    if (ref?.kind === "tag") return ref.tag;
    if (ref?.kind === "digest" && !ref.digest.equals(m.digest)) {
      throw new IntegrityError(`destination names ${ref.digest} but the image is ${m.digest}`, {
        code: "E_DIGEST_MISMATCH",
        where: this.layout.root,
      });
    }
    return undefined;
  }

  async commit(): Promise<void> {
    this.assertOpen();
    try {
      if (this.pending.length > 0) {
        await this.layout.updateIndex(async (index) => {
          await this.checkComplete();
          return { index: this.pending.reduce(applyEntry, index), result: undefined };
        });
      }
    } finally {
      this.finished = true;
      await this.marker.remove();
    }
  }

  /**
   * Under the lock, before index.json names the new image: every blob its
   * manifests reference must be there. A concurrent delete's GC cannot remove
   * them any more (it needs the lock), so this closes the race for good.
   */
  private async checkComplete(): Promise<void> {
    for (const m of this.manifests) {
      const parsed = parseRawManifest(m, this.layout.root);
      const refs = parsed.kind === "index" ? parsed.manifests : [parsed.config, ...parsed.layers];
      for (const d of refs) {
        if (d.urls && d.urls.length > 0) continue; // foreign layers live elsewhere by design
        if (!(await this.layout.hasBlob(d.digest))) {
          throw new IoError(`blob ${d.digest} referenced by ${m.digest} is missing from the layout; nothing was committed`, {
            where: this.layout.root,
          });
        }
      }
    }
  }

  async abort(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    await this.layout.removeTemporaries();
    await this.marker.remove();
  }

  private assertOpen(): void {
    if (this.finished) throw new Error("layout destination already committed or aborted");
  }
}

function applyEntry(index: LayoutIndex, p: PendingEntry): LayoutIndex {
  return p.name === undefined ? addUnnamed(index, p.desc) : setNamed(index, p.desc, p.name);
}
