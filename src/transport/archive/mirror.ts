/**
 * The staging of a mirror archive (`dray sync … oci-archive:FILE`, see
 * src/sync/archive.ts): unpacked into an OCI layout in dray's temporary
 * folder (`$TMPDIR`, not beside the file: the archive's disk then needs room
 * for the new archive only), packed back into a new tar renamed over it at
 * the end of the run. Free space is checked before anything is unpacked and
 * before each image's first blob (space.ts).
 */
import { createWriteStream } from "node:fs";
import { mkdir, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { UsageError } from "../../errors.js";
import { writeError } from "../layout/fsutil.js";
import { listNames } from "../layout/index-json.js";
import type { TransportOptions } from "../types.js";
import { SpaceLedger } from "./space.js";

/** `team/app:1.0` → team/app and 1.0 (a tag holds no colon, so the last one splits). */
export function splitRefName(name: string): { repository: string; tag: string } | undefined {
  const i = name.lastIndexOf(":");
  if (i <= 0 || i === name.length - 1) return undefined;
  return { repository: name.slice(0, i), tag: name.slice(i + 1) };
}

/** The mirror archives a run opened, by file. */
export type MirrorArchives = ReadonlyMap<string, MirrorArchive>;

/** One mirror archive for the length of a run: its staging layout, packed back at the end. */
export class MirrorArchive {
  private changed = false;
  /** The archive was there when the run began (else a run that stored nothing writes no file). */
  private existed = false;
  /** Blobs the earlier archive held (`blobs/ALG/HEX`): packed again as they were, reachable or not. */
  private readonly earlier = new Set<string>();

  private constructor(
    readonly file: string,
    /** The staging folder; the layout is its `layout/`. */
    private readonly tmp: string,
    /** Room the run has planned, in the staging folder and beside the archive. */
    readonly space: SpaceLedger,
  ) {}

  get layoutPath(): string {
    return join(this.tmp, "layout");
  }

  /**
   * Unpacks `file` (when it exists) into a staging layout beside it.
   * `forWriting`: the run may write the archive, so it must be writable (a
   * source on a read-only disk need not be), and a file there that is not an
   * OCI archive is refused (or, with --force, replaced), as copy's archive
   * destinations do.
   */
  static async open(file: string, opts: TransportOptions, forWriting: boolean): Promise<MirrorArchive> {
    if (file === "-") throw new UsageError("sync needs a file for an oci-archive mirror, not standard input or output");
    const { makeMirrorStagingDir, archiveFolder } = await import("./staging.js");
    const tmp = await makeMirrorStagingDir(file, opts, forWriting);
    const archive = new MirrorArchive(file, tmp, new SpaceLedger(`oci-archive:${file}`, await archiveFolder(file), tmp));
    try {
      const { checkEarlierArchive } = await import("./earlier.js");
      archive.existed = forWriting ? (await checkEarlierArchive(file, "oci-archive", opts)) !== undefined : await exists(file);
      if (archive.existed) await archive.unpack();
      const { OciLayout } = await import("../layout/layout.js");
      await OciLayout.create(archive.layoutPath);
    } catch (err) {
      await archive.close();
      throw err;
    }
    return archive;
  }

  private async unpack(): Promise<void> {
    const { TarIndex } = await import("./tar-index.js");
    const tar = await TarIndex.open(this.file);
    const layout = this.layoutPath;
    await mkdir(layout, { recursive: true });
    const isBlob = (name: string): boolean => /^blobs\/[a-z0-9]+\/[a-f0-9]+$/.test(name);
    const blobs = tar.entries.filter((e) => e.kind === "file" && isBlob(e.name));
    await this.space.checkStaging(blobs.reduce((n, e) => n + e.size, 0));
    for (const e of blobs) {
      this.earlier.add(e.name);
      this.space.staged({ digest: e.name.slice("blobs/".length).replace("/", ":"), size: e.size });
    }
    for (const entry of tar.entries) {
      if (entry.kind !== "file") continue;
      if (!isBlob(entry.name) && entry.name !== "index.json" && entry.name !== "oci-layout") continue;
      const target = join(layout, ...entry.name.split("/"));
      if (isBlob(entry.name)) await mkdir(join(target, ".."), { recursive: true });
      // Blobs are verified when the layout serves them, like any layout's.
      await pipeline(tar.stream(entry), createWriteStream(target, { mode: 0o644 }));
    }
  }

  /** Repositories named in the archive (`team/app` of `team/app:1.0`), sorted. */
  async repositories(): Promise<string[]> {
    const { OciLayout } = await import("../layout/layout.js");
    const names = listNames(await (await OciLayout.open(this.layoutPath)).readIndex());
    return [...new Set(names.flatMap((n) => splitRefName(n)?.repository ?? []))].sort();
  }

  /** Something was written into the staging layout: publish() has work to do. */
  touch(): void {
    this.changed = true;
  }

  /** Packs the staging layout into a new tar renamed over the archive (oci-layout first, index.json last). */
  async publish(opts: TransportOptions): Promise<void> {
    if (!this.changed) return;
    // A new archive for a run whose every image failed: no file, as a failed copy leaves none.
    if (!this.existed && (await this.repositories()).length === 0) return;
    const { ArchiveOutput } = await import("./staging.js");
    const kept = await this.blobsToPack();
    const out = await ArchiveOutput.open(this.file, opts);
    try {
      const layout = this.layoutPath;
      await out.writer.addBuffer("oci-layout", await readFile(join(layout, "oci-layout")));
      for (const alg of await readdir(join(layout, "blobs"))) {
        if (alg.startsWith(".")) continue;
        for (const hex of (await readdir(join(layout, "blobs", alg))).sort()) {
          if (hex.startsWith(".")) continue; // a writer's temporary
          const name = `blobs/${alg}/${hex}`;
          if (!kept(name)) continue;
          const path = join(layout, "blobs", alg, hex);
          await out.writer.addParents(name);
          await out.writer.addFile(name, path, (await stat(path)).size);
        }
      }
      await out.writer.addBuffer("index.json", await readFile(join(layout, "index.json")));
    } catch (err) {
      await out.discard();
      // Out of room after all (another writer filled the disk): say where, not the raw ENOSPC.
      if (err instanceof Error && "syscall" in err) throw writeError(err, `cannot write ${this.file}`, this.file);
      throw err;
    }
    await out.publish();
  }

  /**
   * Which staged blobs go into the new archive: the earlier archive's, and
   * those of this run that index.json reaches. A failed image's blobs that
   * arrived while other images were still being written (its writer then
   * leaves them, as another may be about to use them) are no part of any
   * image: packed, they would ride along in the archive for good.
   */
  private async blobsToPack(): Promise<(name: string) => boolean> {
    const { OciLayout } = await import("../layout/layout.js");
    const { reachableBlobs } = await import("../layout/gc.js");
    const layout = await OciLayout.open(this.layoutPath);
    const reachable = await reachableBlobs(layout, await layout.readIndex());
    return (name) => this.earlier.has(name) || reachable.has(name.slice("blobs/".length).replace("/", ":"));
  }

  /** Removes the staging folder. */
  async close(): Promise<void> {
    const { removeDir } = await import("./staging.js");
    await removeDir(this.tmp);
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
