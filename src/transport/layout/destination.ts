// An OCI layout as an ImageDestination. Blobs and manifests land under their
// digests as they arrive (invisible until referenced); index.json changes
// only at commit, under the layout lock, re-read so other writers' images and
// tags survive. A run that fails puts the layout back as it was (README): the
// blobs it wrote that nothing references go, and so does a folder it created.
import type { Readable } from "node:stream";
import { IoError } from "../../errors.js";
import type { Digest } from "../../oci/digest.js";
import { descriptorOf, parseRawManifest, type Descriptor, type RawManifest } from "../../oci/manifest.js";
import type { LayoutLocation } from "../../ref/location.js";
import type { BlobReadOptions, DestinationCapabilities, ImageDestination } from "../types.js";
import { addUnnamed, entriesNamed, entryNameFor, setNamed, type LayoutIndex } from "./index-json.js";
import type { LayoutCreation, OciLayout, WriterMarker } from "./layout.js";
import { reachableBlobs } from "./gc.js";
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
  /** Blobs and manifests this writer stored: a failed run removes those nothing references. */
  private readonly written: Digest[] = [];
  private finished = false;

  constructor(
    readonly location: LayoutLocation,
    readonly layout: OciLayout,
    private readonly marker: WriterMarker,
    /** What opening made (the folder, or the layout files in an empty one): a failed run takes it away. */
    private readonly created: LayoutCreation = { root: undefined, layoutFile: false },
  ) {}

  /** What this writer stored, for a caller that sweeps after several writers (sync's repository, once all are done). */
  get blobsWritten(): readonly Digest[] {
    return this.written;
  }

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
    this.written.push(desc.digest);
  }

  async putManifest(m: RawManifest, opts: { tag?: string; isTop?: boolean } = {}): Promise<void> {
    this.assertOpen();
    // Also checks the bytes against the digest: a manifest is stored under the name it claims only if true.
    parseRawManifest(m, this.layout.root);
    await this.layout.writeBlobBytes(m.digest, m.bytes);
    this.written.push(m.digest);
    this.manifests.push(m);
    const name = entryNameFor(m, opts, this.location.ref, this.layout.root);
    if (name === null) return;
    this.pending.push({ desc: descriptorOf(m), name });
  }

  async commit(): Promise<void> {
    this.assertOpen();
    this.finished = true;
    try {
      if (this.pending.length > 0) {
        await this.layout.updateIndex(async (index) => {
          await this.checkComplete();
          return { index: this.pending.reduce(applyEntry, index), result: undefined };
        });
      }
    } catch (err) {
      await this.undo();
      throw err;
    }
    await this.marker.remove();
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
    await this.undo();
  }

  /** Ends this writer and takes back what it wrote; best effort: the run's own error is what the user needs. */
  private async undo(): Promise<void> {
    await this.marker.remove();
    await this.discardWrites().catch(() => undefined);
  }

  /**
   * Under the lock: the blobs this run wrote that index.json does not reach
   * are removed, and when the layout holds no image, what opening created
   * (the folder, or the layout files in a folder that was empty). Skipped
   * while another writer runs: it may have found one of these blobs present,
   * skipped writing it, and be about to reference it. A writer that starts
   * later registers under the same lock, so it sees the blobs gone.
   */
  private async discardWrites(): Promise<void> {
    const made = this.created.root !== undefined || this.created.layoutFile;
    if (this.written.length === 0 && !made) return;
    await this.layout.discardIfEmpty(this.created, async (index) => {
      const reachable = await reachableBlobs(this.layout, index);
      for (const d of this.written) if (!reachable.has(d.toString())) await this.layout.removeBlob(d);
    });
  }

  private assertOpen(): void {
    if (this.finished) throw new Error("layout destination already committed or aborted");
  }
}

function applyEntry(index: LayoutIndex, p: PendingEntry): LayoutIndex {
  return p.name === undefined ? addUnnamed(index, p.desc) : setNamed(index, p.desc, p.name);
}
