/**
 * Free space for an archive destination. A whole-mirror archive (`dray sync
 * … oci-archive:FILE`): before an image's first blob moves, the blobs it adds
 * must fit in the staging folder, and the archive the run will pack at the
 * end (what is staged, what other images in flight will add, and this image)
 * must fit beside the archive; on one disk, both together. A single-image
 * copy into an archive: checkArchiveSpace. A run that cannot fit stops there
 * with a one-line error naming the bytes, not with ENOSPC half way through a pack.
 */
import { stat, statfs } from "node:fs/promises";
import { IoError } from "../../errors.js";
import { ioError } from "../layout/fsutil.js";
import { archiveBeside } from "./staging.js";

/** A blob a plan will move. */
export interface PlannedBlob {
  digest: string;
  size: number;
}

/** Tar bytes of one blob entry beyond its content: a header and padding, and its share of the folders. */
const TAR_ENTRY_OVERHEAD = 1024;
/** The tar's two end blocks, oci-layout and index.json (index.json is small next to any blob). */
const TAR_FIXED = 64 * 1024;

interface Disk {
  /** Bytes an unprivileged writer may still use (statfs bavail × bsize). */
  available: number;
  device: number;
}

async function disk(dir: string): Promise<Disk> {
  try {
    const [fs, st] = await Promise.all([statfs(dir), stat(dir)]);
    return { available: fs.bavail * fs.bsize, device: st.dev };
  } catch (err) {
    throw ioError(err, "cannot read the free space of", dir);
  }
}

/** Bytes to go into one folder, and what they are (for the message). */
interface Need {
  dir: string;
  bytes: number;
  what: string;
  /** Said after `what` when this folder alone is short (where it is). */
  alone?: string;
}

/**
 * Refuses (E_IO, naming the bytes) when `archive` and `staging` do not fit where they go; on one
 * disk they must fit together. `archive` undefined: the tar goes to standard output.
 */
async function checkFits(where: string, archive: Need | undefined, staging: Need): Promise<void> {
  const [a, s] = await Promise.all([archive ? disk(archive.dir) : undefined, disk(staging.dir)]);
  if (archive && a && a.device === s.device) {
    const both = archive.bytes + staging.bytes;
    if (a.available < both) throw refusal(where, archive.dir, both, a.available, `${archive.what} and ${staging.what} (one disk)`);
    return;
  }
  if (s.available < staging.bytes) throw refusal(where, staging.dir, staging.bytes, s.available, `${staging.what}${staging.alone ?? ""}`);
  if (archive && a && a.available < archive.bytes) throw refusal(where, archive.dir, archive.bytes, a.available, archive.what);
}

function refusal(where: string, dir: string, needed: number, available: number, what: string): IoError {
  return new IoError(`not enough free space for ${where}: ${what} needs ${needed} bytes in ${dir}, ${available} available`, { where });
}

/** Tar bytes of `blobs` as entries of an archive. */
function tarBytes(blobs: readonly PlannedBlob[]): number {
  return blobs.reduce((n, b) => n + b.size + TAR_ENTRY_OVERHEAD, 0);
}

/**
 * Free space for one copy into an archive (`dray copy … oci-archive:FILE` or `docker-archive:FILE`): the tar
 * written beside FILE holds the archive it replaces (its images are carried over) and every planned blob that
 * archive does not hold already (`earlierBlobs`, checkEarlierArchive: a blob in both is in the new tar once).
 * Blobs are spooled before they enter the tar: an oci-archive spools one at a time (`spooled: "largest"`, so
 * the largest is on disk twice for a moment), a docker-archive every one until its tar is written at commit
 * (`"all"`). Checked before the first blob moves, as a whole-mirror archive is. For `-` only the spool counts.
 */
export async function checkArchiveSpace(
  where: string,
  path: string,
  earlierBlobs: ReadonlySet<string>,
  spool: { dir: string; spooled: "largest" | "all" },
  blobs: readonly PlannedBlob[],
): Promise<void> {
  const beside = await archiveBeside(path);
  const spoolBytes = blobs.reduce((n, b) => (spool.spooled === "all" ? n + b.size : Math.max(n, b.size)), 0);
  const added = blobs.filter((b) => !earlierBlobs.has(b.digest));
  const tar = beside && { dir: beside.dir, bytes: TAR_FIXED + beside.earlier + tarBytes(added), what: "the archive" };
  await checkFits(where, tar, { dir: spool.dir, bytes: spoolBytes, what: "its spool folder" });
}

/** The bytes one mirror archive's run has planned, shared by every image of the run. */
export class SpaceLedger {
  /** Blobs in the staging folder before the run (the earlier archive's). */
  private readonly stagedBlobs = new Set<string>();
  /** Blobs planned by images being copied or copied, with how many of them need each. */
  private readonly planned = new Map<string, number>();
  /** Bytes of the archive to be packed: staged before the run, plus every reservation. */
  private archiveBytes = TAR_FIXED;
  /** Bytes reserved by images still being copied (not yet all on disk). */
  private inFlight = 0;

  constructor(
    /** oci-archive:FILE, for messages. */
    private readonly where: string,
    private readonly archiveDir: string,
    private readonly stagingDir: string,
  ) {}

  private counted(digest: string): boolean {
    return this.stagedBlobs.has(digest) || this.planned.has(digest);
  }

  /** A blob already in the staging folder (the earlier archive's). */
  staged(blob: PlannedBlob): void {
    if (this.counted(blob.digest)) return;
    this.stagedBlobs.add(blob.digest);
    this.archiveBytes += blob.size + TAR_ENTRY_OVERHEAD;
  }
  /** Checks the staging folder can hold `bytes` now (the earlier archive unpacked into it). */
  async checkStaging(bytes: number): Promise<void> {
    const staging = await disk(this.stagingDir);
    if (staging.available < bytes) throw refusal(this.where, this.stagingDir, bytes, staging.available, "its staging folder (TMPDIR)");
  }

  /**
   * Reserves room for `blobs` (those not staged or reserved yet), or refuses
   * with E_IO when the staging folder or the archive's folder cannot take
   * them. Returns the release for when the image's copy ends: a failed image's blobs are not
   * packed (sync leaves them out), so it gives back the archive's room for those no other image needs.
   */
  async reserve(blobs: readonly PlannedBlob[]): Promise<(failed: boolean) => void> {
    let adds = 0;
    let entries = 0;
    for (const b of blobs) {
      if (this.counted(b.digest)) continue;
      adds += b.size;
      entries++;
    }
    const archive = this.archiveBytes + adds + entries * TAR_ENTRY_OVERHEAD;
    const staging = this.inFlight + adds;
    await checkFits(
      this.where,
      { dir: this.archiveDir, bytes: archive, what: "the archive" },
      { dir: this.stagingDir, bytes: staging, what: "its staging folder", alone: " (TMPDIR)" },
    );
    // Counted only once checked: a refused image adds nothing for the others.
    const mine = blobs.filter((b) => !this.stagedBlobs.has(b.digest));
    for (const b of mine) this.planned.set(b.digest, (this.planned.get(b.digest) ?? 0) + 1);
    this.archiveBytes = archive;
    this.inFlight += adds;
    let released = false;
    return (failed) => {
      if (released) return;
      released = true;
      this.inFlight -= adds;
      if (failed) for (const b of mine) this.unplan(b);
    };
  }

  private unplan(b: PlannedBlob): void {
    const left = (this.planned.get(b.digest) ?? 1) - 1;
    if (left > 0) {
      this.planned.set(b.digest, left);
      return;
    }
    this.planned.delete(b.digest);
    this.archiveBytes -= b.size + TAR_ENTRY_OVERHEAD;
  }
}
