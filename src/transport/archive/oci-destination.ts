// An oci-archive as an ImageDestination. Each blob is spooled to a temporary
// file and verified, then appended to the tar being written (a temporary file
// beside the target, or standard output); index.json goes last at commit and
// the temporary is renamed over the target. Spooling first keeps a failed or
// retried transfer out of the tar (an entry cannot be taken back) and lets
// putBlob run concurrently although a tar is written one entry at a time.
// An archive already at the path keeps its images (unlike skopeo, which
// replaces it): its index.json entries stay unless a tag is given again, and
// the blobs they reach are carried over into the new tar at commit.
import { unlink } from "node:fs/promises";
import type { Readable } from "node:stream";
import { IoError } from "../../errors.js";
import { Digest } from "../../oci/digest.js";
import { descriptorOf, parseRawManifest, type Descriptor, type RawManifest } from "../../oci/manifest.js";
import type { LayoutLocation } from "../../ref/location.js";
import type { BlobReadOptions, DestinationCapabilities, ImageDestination, TransportOptions } from "../types.js";
import { addUnnamed, emptyIndex, entryNameFor, serializeIndexJson, setNamed, type LayoutIndex } from "../layout/index-json.js";
import { LAYOUT_VERSION } from "../layout/layout.js";
import { ArchiveOutput, makeSpoolDir, removeDir, spoolBlob } from "./staging.js";
import { checkEarlierArchive, earlierOciArchive, type EarlierArchive } from "./earlier.js";
import { checkArchiveSpace, type PlannedBlob } from "./space.js";
import type { BlobReader } from "../layout/resolve.js";
import { OCI_STORE_CAPABILITIES } from "../capabilities.js";

export class OciArchiveDestination implements ImageDestination {
  readonly capabilities: DestinationCapabilities = { ...OCI_STORE_CAPABILITIES, ociLayout: true };

  /** Blobs whose tar entry is complete. */
  private readonly written = new Set<string>();
  /** Blobs being appended now: a second put of the same digest waits for the first. */
  private readonly appending = new Map<string, Promise<void>>();
  private readonly manifests: RawManifest[] = [];
  /** index.json changes in order: each put top manifest, with its name (undefined: unnamed). */
  private readonly entries: Array<{ desc: Descriptor; name: string | undefined }> = [];
  private finished = false;

  private constructor(
    readonly location: LayoutLocation,
    private readonly output: ArchiveOutput,
    private readonly spoolDir: string,
    /** Blobs the archive being replaced holds (checkEarlierArchive). */
    private readonly earlierBlobs: ReadonlySet<string>,
    private readonly opts: TransportOptions,
  ) {}

  static async open(location: LayoutLocation, opts: TransportOptions): Promise<OciArchiveDestination> {
    const earlierBlobs = await checkEarlierArchive(location.path, "oci-archive", opts);
    // The spool folder first: making it checks the archive's place, before the temporary tar is opened.
    const spoolDir = await makeSpoolDir(location.path, "oci-archive", opts);
    let output: ArchiveOutput;
    try {
      output = await ArchiveOutput.open(location.path, opts);
    } catch (err) {
      await removeDir(spoolDir);
      throw err;
    }
    const dest = new OciArchiveDestination(location, output, spoolDir, earlierBlobs ?? new Set(), opts);
    // oci-layout first: a reader streaming the archive knows at once what it holds.
    void output.writer.addBuffer("oci-layout", Buffer.from(JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION }))).catch(() => undefined);
    return dest;
  }

  private get where(): string {
    return `oci-archive:${this.location.path}`;
  }

  /** An archive destination is written whole, so nothing is "already there". */
  async currentDigest(): Promise<Digest | undefined> {
    return undefined;
  }

  async hasBlob(desc: Descriptor): Promise<boolean> {
    return this.written.has(desc.digest.toString());
  }

  /** Before the first blob moves: the tar and a spooled blob must fit beside the target (space.ts). */
  async reserveSpace(blobs: readonly PlannedBlob[]): Promise<void> {
    await checkArchiveSpace(this.where, this.location.path, this.earlierBlobs, { dir: this.spoolDir, spooled: "largest" }, blobs);
  }

  async putBlob(desc: Descriptor, data: Readable, opts: BlobReadOptions = {}): Promise<void> {
    this.assertOpen();
    const spooled = await spoolBlob(this.spoolDir, desc.digest, desc.size, data, opts.signal, this.where);
    try {
      await this.append(desc.digest, () => this.output.writer.addFile(desc.digest.blobPath, spooled.path, spooled.size));
    } finally {
      await unlink(spooled.path).catch(() => undefined);
    }
  }

  async putManifest(m: RawManifest, opts: { tag?: string; isTop?: boolean } = {}): Promise<void> {
    this.assertOpen();
    parseRawManifest(m, this.where); // the bytes must be the manifest the digest names
    await this.append(m.digest, () => this.output.writer.addBuffer(m.digest.blobPath, m.bytes));
    this.manifests.push(m);
    const name = entryNameFor(m, opts, this.location.ref, this.where);
    if (name === null) return;
    this.entries.push({ desc: descriptorOf(m), name });
  }

  /** Appends one blob entry unless it is in the tar already or on its way. */
  private async append(digest: Digest, write: () => Promise<void>): Promise<void> {
    const key = digest.toString();
    if (this.written.has(key)) return;
    const running = this.appending.get(key);
    if (running) return running;
    const task = (async () => {
      await this.output.writer.addParents(digest.blobPath);
      await write();
      this.written.add(key);
    })();
    this.appending.set(key, task);
    try {
      await task;
    } finally {
      this.appending.delete(key);
    }
  }

  async commit(): Promise<void> {
    this.assertOpen();
    this.finished = true;
    let earlier: EarlierArchive | undefined;
    try {
      this.checkComplete();
      earlier = await earlierOciArchive(this.location.path, (old) => this.indexFrom(old), this.freshManifests(), this.opts);
      await earlier?.carry(this.output.writer, new Set([...this.written].map((d) => Digest.parse(d).blobPath)));
      const index = earlier?.index ?? this.indexFrom(emptyIndex());
      await this.output.writer.addBuffer("index.json", Buffer.from(serializeIndexJson(index)));
      await this.output.publish();
    } catch (err) {
      await this.output.discard();
      throw err;
    } finally {
      await earlier?.close();
      await removeDir(this.spoolDir);
    }
  }

  /** `base` with this copy's entries applied: a name moves to the new image, an unnamed image is added once. */
  private indexFrom(base: LayoutIndex): LayoutIndex {
    return this.entries.reduce((index, e) => (e.name === undefined ? addUnnamed(index, e.desc) : setNamed(index, e.desc, e.name)), base);
  }

  /** The manifests put now, readable by digest (to walk the merged index). */
  private freshManifests(): BlobReader {
    const byDigest = new Map(this.manifests.map((m) => [m.digest.toString(), m.bytes]));
    return {
      root: this.where,
      hasBlob: async (d) => byDigest.has(d.toString()),
      readBlob: async (d) => byDigest.get(d.toString())!,
    };
  }

  /** Every blob the put manifests reference must be in the archive, or the archive would be broken. */
  private checkComplete(): void {
    for (const m of this.manifests) {
      const parsed = parseRawManifest(m, this.where);
      const refs = parsed.kind === "index" ? parsed.manifests : [parsed.config, ...parsed.layers];
      for (const d of refs) {
        if (d.urls && d.urls.length > 0) continue; // foreign layers live elsewhere by design
        if (!this.written.has(d.digest.toString())) {
          throw new IoError(`blob ${d.digest} referenced by ${m.digest} was never written; the archive was not created`, {
            where: this.where,
          });
        }
      }
    }
  }

  async abort(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    await this.output.discard();
    await removeDir(this.spoolDir);
  }

  private assertOpen(): void {
    if (this.finished) throw new Error("oci-archive destination already committed or aborted");
  }
}
