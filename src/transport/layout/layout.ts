// An OCI image layout directory (image-spec image-layout.md): `oci-layout`,
// `index.json`, `blobs/ALG/HEX`. This class knows files, not images: the
// source, destination and reference store are built on it, and the archive
// transport can use it on a temporary directory.
//
// Safety rules kept here, once:
// - a blob path is only ever built from a validated Digest (Digest.blobPath);
// - every path read or written is resolved (realpath) and must stay inside
//   the layout, so a symlinked blob or blobs folder cannot leak or clobber
//   files elsewhere;
// - blobs are written to a temporary file `.dray-tmp-*` (never named like
//   blobs/ALG/HEX), verified while written, and renamed into place only after
//   the input ended cleanly and the digest matched.
// dray's own files (lock, temporaries, writer markers) sit in the layout root
// named `.dray-*`, as containers/image puts its temporaries in the root: the
// root always exists (no folder to create or tidy racing another writer), a
// rename from it into blobs/ stays on one file system, and a finished layout
// holds nothing of dray's.
import type { Stats } from "node:fs";
import { lstat, mkdir, readdir, rename, rm, stat, unlink, utimes, writeFile, link } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { addAbortSignal, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DrayError, IntegrityError, isAbortError, NotFoundError, UsageError } from "../../errors.js";
import { Digest, verifiedStages, verifyBytes } from "../../oci/digest.js";
import { MAX_MANIFEST_BYTES } from "../../oci/manifest.js";
import {
  HOSTNAME,
  atomicWriteFile,
  errnoCode,
  ioError,
  isNotFound,
  writeError,
  makeDirs,
  isPidAlive,
  readFileCapped,
  realPathInside,
  removeEmptyFolders,
  uniqueSuffix,
} from "./fsutil.js";
import { MAX_INDEX_JSON_BYTES, emptyIndex, parseIndexJson, serializeIndexJson, type LayoutIndex } from "./index-json.js";
import { LockFile, type LockOptions } from "./lock.js";
import { removeOwnTemporary } from "../temporaries.js";
import { checkLinkMayBeFollowed, checkStillNamed } from "../protected-links.js";
import { FileSink, fileChunks } from "../file-io.js";

export const LAYOUT_VERSION = "1.0.0";
/** Names of dray's private files in a layout root (lock, temporaries, writer markers). Archive writers skip them. */
export const DRAY_FILE_PREFIX = ".dray-";
const TMP_PREFIX = ".dray-tmp-";
const WRITER_PREFIX = ".dray-writer-";
const LOCK_NAME = ".dray-lock";

export interface BlobWriteOptions {
  signal?: AbortSignal;
  /** Expected size; omit (or pass a negative number) when unknown. */
  size?: number;
}

/** What opening a layout for writing made, for a failed run to take away again. */
export interface LayoutCreation {
  /** The first folder mkdir made (the layout folder or a parent of it), undefined when it existed. */
  root: string | undefined;
  /** This run linked `oci-layout` into place (an existing empty folder became a layout). */
  layoutFile: boolean;
}

/** A live writer's marker: GC leaves alone blobs written since the oldest live writer started. */
export interface WriterMarker {
  readonly since: number;
  remove(): Promise<void>;
}

export class OciLayout {
  /** The directory as the user named it (for messages). */
  readonly root: string;
  /** Temporaries being written by this object, removed by removeTemporaries(). */
  private readonly temporaries = new Set<string>();
  /** Folders made and checked once per instance: every blob write needs blobs/ALG, a copy writes many. */
  private readonly ensured = new Map<string, Promise<string>>();

  private constructor(
    root: string,
    /** The directory with symlinks resolved: every path used must stay below it. */
    readonly realRoot: string,
  ) {
    this.root = root;
  }

  /** Opens an existing layout for reading; checks `oci-layout`. */
  static async open(dir: string): Promise<OciLayout> {
    const root = resolve(dir);
    let st: Stats;
    try {
      st = await stat(root);
    } catch (err) {
      if (isNotFound(err)) throw new NotFoundError(`no OCI layout at ${dir}`, { where: dir });
      throw ioError(err, "cannot open OCI layout", dir);
    }
    if (!st.isDirectory())
      throw new UsageError(`${dir} is not a directory (an OCI layout is a directory; use oci-archive: for a tar)`, {
        code: "E_LOCATION_INVALID",
      });
    const layout = new OciLayout(dir, await realPathInside("/", root, dir));
    await layout.checkLayoutFile();
    return layout;
  }

  /**
   * Opens a layout for writing, creating the directory, `oci-layout`,
   * `blobs/` and an empty `index.json` when missing. An existing non-empty
   * directory without `oci-layout` is refused: `oci:$HOME` is a typo, not a wish.
   */
  static async create(dir: string): Promise<OciLayout> {
    return (await OciLayout.prepare(dir, false)).layout;
  }

  /** create() that also says what it made, for discardIfEmpty() after a run that wrote nothing (sync's prepare). */
  static async createTracked(dir: string): Promise<{ layout: OciLayout; created: LayoutCreation }> {
    const { layout, created } = await OciLayout.prepare(dir, false);
    return { layout, created };
  }

  /**
   * create() for a copy: also registers the writer, and says what this run
   * created, so a failed run can put the folder back as it was (see
   * LayoutDestination.abort). The layout files are made and the marker
   * written under the lock: a failed writer's cleanup, which holds the lock,
   * then either sees this writer's marker or has already removed the folder
   * (and this call makes it again).
   */
  static async createForWriter(dir: string): Promise<{ layout: OciLayout; marker: WriterMarker; created: LayoutCreation }> {
    const { layout, marker, created } = await OciLayout.prepare(dir, true);
    return { layout, marker: marker!, created };
  }

  private static async prepare(
    dir: string,
    registerWriter: boolean,
  ): Promise<{ layout: OciLayout; marker: WriterMarker | undefined; created: LayoutCreation }> {
    const root = resolve(dir);
    await checkLinkMayBeFollowed(root, `cannot write OCI layout ${dir}`);
    for (let attempt = 1; ; attempt++) {
      let made: string | undefined;
      try {
        made = await makeDirs(root);
      } catch (err) {
        if (errnoCode(err) === "EEXIST")
          throw new UsageError(`${dir} is a file; an OCI layout is a directory (use oci-archive:${dir} for a tar)`, {
            code: "E_LOCATION_INVALID",
            where: dir,
          });
        // A folder mkdir found was renamed away by another writer's failed run before makeDirs could look at it: make it again.
        if (isNotFound(err) && attempt < 3 && !(await pathExists(root))) continue;
        throw writeError(err, "cannot create OCI layout directory", dir);
      }
      try {
        const realRoot = await realPathInside("/", root, dir);
        await checkStillNamed(root, realRoot, `cannot write OCI layout ${dir}`);
        const layout = new OciLayout(dir, realRoot);
        return await layout.lockFile().with(async () => {
          const layoutFile = await layout.initialise();
          const marker = registerWriter ? await layout.registerWriter() : undefined;
          return { layout, marker, created: { root: made, layoutFile } };
        });
      } catch (err) {
        // Another writer's failed run removed the folder it had created in between: make it again.
        if (attempt < 3 && !(await pathExists(root))) continue;
        throw err;
      }
    }
  }

  /** Makes `oci-layout`, `blobs/` and `index.json` where missing; true when this call made `oci-layout`. */
  private async initialise(): Promise<boolean> {
    // Temporaries and writer markers of dead processes (a SIGKILL) go now, not only at the next GC.
    await this.liveWritersSince();
    const hasLayoutFile = await this.exists("oci-layout");
    if (!hasLayoutFile) {
      const names = (await readdir(this.realRoot)).filter((n) => !n.startsWith(DRAY_FILE_PREFIX));
      // Another process creating the same layout may have linked `oci-layout` in since the check above.
      if (names.length > 0 && !names.includes("oci-layout")) {
        throw new UsageError(`${this.root} exists and is not an OCI layout (no oci-layout file); choose an empty or new directory`, {
          code: "E_LOCATION_INVALID",
        });
      }
    }
    // `oci-layout` first (linked into place atomically): a second process creating
    // the same new layout at the same moment then sees a layout, never a folder
    // holding only `blobs/`, which it would have to refuse.
    const made = await this.createIfAbsent("oci-layout", JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION }));
    await this.checkLayoutFile();
    await this.ensureDir("blobs");
    await this.createIfAbsent("index.json", serializeIndexJson(emptyIndex()));
    return made;
  }

  /**
   * Takes away what `created` made when the layout holds no image and no
   * other writer is running (one may be about to reference what is here):
   * the folder and the parents made with it, or the layout files in a
   * folder that existed. `also` runs under the same lock when the layout is
   * kept (a writer removing its unreferenced blobs). True when it was removed.
   */
  async discardIfEmpty(created: LayoutCreation, also?: (index: LayoutIndex) => Promise<void>): Promise<boolean> {
    const made = created.root !== undefined || created.layoutFile;
    const aside = await this.lockFile().with(async () => {
      if ((await this.liveWritersSince()) !== undefined) return { removed: false };
      const index = await this.readIndex();
      if (made && index.entries.length === 0) return { removed: true, aside: await this.unmake(created) };
      await also?.(index);
      return { removed: false };
    });
    // Removed once the lock is let go: its file went aside with the folder.
    if (aside.aside !== undefined) {
      await rm(aside.aside, { recursive: true, force: true });
      await removeEmptyFolders(dirname(resolve(this.root)), created.root!);
    }
    return aside.removed;
  }

  /**
   * Takes away what a failed run's `created` made, the lock held by the
   * caller: the whole folder (renamed aside first, so it vanishes at once
   * for anyone else, and its parents the run made while empty), or the
   * layout files in a folder that existed. Returns the renamed folder, to be
   * removed once the lock (whose file is inside) is let go.
   */
  private async unmake(created: LayoutCreation): Promise<string | undefined> {
    if (created.root !== undefined) {
      const aside = join(dirname(this.realRoot), `.${basename(this.realRoot)}.dray-${uniqueSuffix()}.tmp`);
      await rename(this.realRoot, aside);
      return aside;
    }
    if (created.layoutFile) {
      await rm(join(this.realRoot, "blobs"), { recursive: true, force: true });
      await unlink(join(this.realRoot, "index.json")).catch(() => undefined);
      await unlink(join(this.realRoot, "oci-layout")).catch(() => undefined);
    }
    return undefined;
  }

  private where(rel: string): string {
    return join(this.root, rel);
  }

  private async exists(rel: string): Promise<boolean> {
    try {
      await lstat(join(this.realRoot, rel));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw ioError(err, "cannot read OCI layout", this.where(rel));
    }
  }

  /** A directory below the root, created if needed, proven to resolve inside the layout. */
  private ensureDir(rel: string): Promise<string> {
    let found = this.ensured.get(rel);
    if (!found) {
      found = this.makeDir(rel);
      found.catch(() => this.ensured.delete(rel));
      this.ensured.set(rel, found);
    }
    return found;
  }

  private async makeDir(rel: string): Promise<string> {
    const path = join(this.realRoot, rel);
    try {
      await mkdir(path, { recursive: true });
    } catch (err) {
      throw writeError(err, "cannot create directory in OCI layout", this.where(rel));
    }
    return realPathInside(this.realRoot, path, this.where(rel));
  }

  /**
   * Creates a file only if it does not exist, atomically: written to a
   * temporary and hard-linked into place (link fails on an existing name), so
   * a concurrent reader never sees it half-written and a concurrent creator
   * never overwrites.
   */
  private async createIfAbsent(rel: string, content: string): Promise<boolean> {
    const tmp = join(this.realRoot, `${TMP_PREFIX}${uniqueSuffix()}`);
    await writeFile(tmp, content, { flag: "wx", mode: 0o644 });
    try {
      await link(tmp, join(this.realRoot, rel));
      return true;
    } catch (err) {
      if (errnoCode(err) !== "EEXIST") throw writeError(err, "cannot write OCI layout", this.where(rel));
      return false;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  /** The real path of a file in the layout that must exist and stay inside. */
  private async insidePath(rel: string, what: string): Promise<string> {
    try {
      return await realPathInside(this.realRoot, join(this.realRoot, rel), this.where(rel));
    } catch (err) {
      if (isNotFound(err)) throw new NotFoundError(`${what} not found in OCI layout ${this.root}`, { where: this.where(rel), cause: err });
      if (err instanceof IntegrityError) throw err;
      throw ioError(err, `cannot read ${what}`, this.where(rel));
    }
  }

  /** Checks `oci-layout`: a JSON object whose imageLayoutVersion dray understands. */
  async checkLayoutFile(): Promise<void> {
    let bytes: Buffer;
    try {
      bytes = await readFileCapped(await this.insidePath("oci-layout", "oci-layout file"), 64 * 1024, "oci-layout file");
    } catch (err) {
      if (err instanceof NotFoundError)
        throw new NotFoundError(`${this.root} is not an OCI layout (no oci-layout file)`, { where: this.root });
      throw err;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(bytes.toString("utf8"));
    } catch {
      throw new IntegrityError("oci-layout is not valid JSON", { code: "E_MANIFEST_INVALID", where: this.where("oci-layout") });
    }
    const version = typeof doc === "object" && doc !== null ? (doc as Record<string, unknown>).imageLayoutVersion : undefined;
    if (version !== LAYOUT_VERSION) {
      throw new IntegrityError(`unsupported OCI layout version ${JSON.stringify(version)} (dray reads ${LAYOUT_VERSION})`, {
        code: "E_UNSUPPORTED_MEDIA_TYPE",
        where: this.where("oci-layout"),
      });
    }
  }

  /** Parses index.json (size-capped; every descriptor validated). */
  async readIndex(): Promise<LayoutIndex> {
    const path = await this.insidePath("index.json", "index.json");
    const bytes = await readFileCapped(path, MAX_INDEX_JSON_BYTES, "index.json").catch((err: unknown) => {
      if (err instanceof IntegrityError) throw err;
      throw ioError(err, "cannot read index.json", this.where("index.json"));
    });
    return parseIndexJson(bytes, this.root);
  }

  /** Replaces index.json atomically. The caller holds the lock (see updateIndex). */
  async writeIndex(index: LayoutIndex): Promise<void> {
    try {
      await atomicWriteFile(join(this.realRoot, "index.json"), serializeIndexJson(index), this.realRoot, TMP_PREFIX);
    } catch (err) {
      throw writeError(err, "cannot write index.json", this.where("index.json"));
    }
  }

  /** The lock guarding read-modify-write of index.json. */
  lockFile(): LockFile {
    return new LockFile(join(this.realRoot, LOCK_NAME));
  }

  /**
   * Read-modify-write of index.json under the lock: index.json is re-read
   * after the lock is taken, so a concurrent writer's commit is kept.
   */
  async updateIndex<T>(fn: (index: LayoutIndex) => Promise<{ index: LayoutIndex; result: T }>, opts?: LockOptions): Promise<T> {
    return this.lockFile().with(async () => {
      const before = await this.readIndex();
      const { index, result } = await fn(before);
      if (index !== before) await this.writeIndex(index);
      return result;
    }, opts);
  }

  /** `blobs/ALG/HEX` below the root, lexically (no file-system access). */
  blobPath(digest: Digest): string {
    return join(this.realRoot, digest.blobPath);
  }

  /** The blob's real path after refusing symlinks out of the layout; E_NOT_FOUND when absent. */
  async resolveBlob(digest: Digest): Promise<string> {
    return this.insidePath(digest.blobPath, `blob ${digest}`);
  }

  /** The blob's size, or undefined when absent; a blob escaping the layout or not a file is refused. */
  async statBlob(digest: Digest): Promise<number | undefined> {
    let path: string;
    try {
      path = await this.resolveBlob(digest);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
    const st = await stat(path);
    if (!st.isFile())
      throw new IntegrityError(`blob ${digest} is not a regular file`, { code: "E_UNSAFE_INPUT", where: this.where(digest.blobPath) });
    return st.size;
  }

  /** The blob's size; E_NOT_FOUND (with the path) when absent. */
  async blobSize(digest: Digest): Promise<number> {
    const size = await this.statBlob(digest);
    if (size === undefined) await this.resolveBlob(digest);
    return size ?? -1;
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    return (await this.statBlob(digest)) !== undefined;
  }

  /** Marks a blob as recently used, so a concurrent GC spares it (see WriterMarker). */
  async touchBlob(digest: Digest): Promise<void> {
    const now = new Date();
    await utimes(this.blobPath(digest), now, now).catch(() => undefined);
  }

  /** Reads a small blob (manifest, index, config) whole: size-capped and verified against its digest. */
  async readBlob(digest: Digest, opts: { max?: number; size?: number } = {}): Promise<Buffer> {
    const max = opts.max ?? MAX_MANIFEST_BYTES;
    const path = await this.resolveBlob(digest);
    const bytes = await readFileCapped(path, max, `blob ${digest}`).catch((err: unknown) => {
      if (err instanceof IntegrityError) throw err;
      throw ioError(err, `cannot read blob ${digest}`, this.where(digest.blobPath));
    });
    verifyBytes(bytes, {
      digest,
      size: opts.size !== undefined && opts.size >= 0 ? opts.size : undefined,
      where: this.where(digest.blobPath),
    });
    return bytes;
  }

  /**
   * A stream of a blob's bytes. The size is checked up front when known (a
   * cheap early failure); the digest is for the caller's VerifyingStream.
   */
  async openBlob(digest: Digest, opts: { size?: number; signal?: AbortSignal } = {}): Promise<Readable> {
    const path = await this.resolveBlob(digest);
    const st = await stat(path);
    if (!st.isFile())
      throw new IntegrityError(`blob ${digest} is not a regular file`, { code: "E_UNSAFE_INPUT", where: this.where(digest.blobPath) });
    if (opts.size !== undefined && opts.size >= 0 && st.size !== opts.size) {
      throw new IntegrityError(`blob ${digest} has ${st.size} bytes, expected ${opts.size}`, {
        code: "E_SIZE_MISMATCH",
        where: this.where(digest.blobPath),
      });
    }
    opts.signal?.throwIfAborted();
    const stream = fileChunks(path);
    return opts.signal ? addAbortSignal(opts.signal, stream) : stream;
  }

  /**
   * Stores a blob from a stream: written to `.dray-tmp-*` in the root, hashed
   * and counted on the way (a mismatch or an error from `data` aborts), and
   * renamed to blobs/ALG/HEX only when everything matched. The temporary is
   * removed on any failure.
   */
  async writeBlob(digest: Digest, data: Readable, opts: BlobWriteOptions = {}): Promise<void> {
    const dir = await this.ensureDir(`blobs/${digest.algorithm}`);
    const tmp = join(this.realRoot, `${TMP_PREFIX}${uniqueSuffix()}`);
    const size = opts.size !== undefined && opts.size >= 0 ? opts.size : undefined;
    const { stages } = verifiedStages(data, { digest, size, where: this.where(digest.blobPath) });
    this.temporaries.add(tmp);
    const sink = new FileSink(tmp);
    try {
      await pipeline([...stages, sink], opts.signal ? { signal: opts.signal } : {});
      // rename replaces the name itself, never writing through a symlink that may sit there.
      await rename(tmp, join(dir, digest.hex));
    } catch (err) {
      // The pipeline rejects as soon as the source fails, possibly while the sink is still opening
      // its file: wait until the sink has closed, or the unlink would come before the file exists.
      if (!sink.closed) await new Promise<void>((resolve) => sink.once("close", () => resolve()));
      await unlink(tmp).catch(() => undefined);
      if (err instanceof DrayError || isAbortError(err)) throw err;
      throw writeError(err, `cannot write blob ${digest}`, this.where(digest.blobPath));
    } finally {
      this.temporaries.delete(tmp);
    }
  }

  /** Stores a blob held in memory (manifests, configs), verified the same way. */
  async writeBlobBytes(digest: Digest, bytes: Uint8Array): Promise<void> {
    verifyBytes(bytes, { digest, where: this.where(digest.blobPath) });
    const dir = await this.ensureDir(`blobs/${digest.algorithm}`);
    const tmp = join(this.realRoot, `${TMP_PREFIX}${uniqueSuffix()}`);
    try {
      await writeFile(tmp, bytes, { flag: "wx", mode: 0o644 });
      await rename(tmp, join(dir, digest.hex));
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw writeError(err, `cannot write blob ${digest}`, this.where(digest.blobPath));
    }
  }

  /** Every file in blobs/ALG/ whose name is a valid digest; anything else there is left alone. */
  async listBlobs(): Promise<Array<{ digest: Digest; mtimeMs: number }>> {
    const out: Array<{ digest: Digest; mtimeMs: number }> = [];
    for (const algorithm of ["sha256", "sha512"]) {
      let names: string[];
      try {
        names = await readdir(join(this.realRoot, "blobs", algorithm));
      } catch (err) {
        if (isNotFound(err)) continue;
        throw ioError(err, "cannot list blobs", this.where(`blobs/${algorithm}`));
      }
      for (const name of names) {
        const digest = Digest.tryParse(`${algorithm}:${name}`);
        if (!digest) continue;
        const st = await lstat(this.blobPath(digest)).catch(() => undefined);
        if (st) out.push({ digest, mtimeMs: st.mtimeMs });
      }
    }
    return out;
  }

  /** Removes a blob file (a symlink is removed itself, never its target). */
  async removeBlob(digest: Digest): Promise<void> {
    await unlink(this.blobPath(digest)).catch((err: unknown) => {
      if (!isNotFound(err)) throw writeError(err, `cannot remove blob ${digest}`, this.where(digest.blobPath));
    });
  }

  /** Removes the temporaries of writes still in flight (their pipelines then fail); for abort(). */
  async removeTemporaries(): Promise<void> {
    await Promise.all([...this.temporaries].map((t) => unlink(t).catch(() => undefined)));
    this.temporaries.clear();
  }

  /** Announces a writer in progress (see liveWritersSince); remove() when done. */
  async registerWriter(): Promise<WriterMarker> {
    const path = join(this.realRoot, `${WRITER_PREFIX}${uniqueSuffix()}`);
    await writeFile(path, JSON.stringify({ pid: process.pid, host: HOSTNAME }), { flag: "wx", mode: 0o644 });
    // The marker's own mtime is the start time: the same clock and granularity as the blob files it is compared with.
    const since = (await stat(path)).mtimeMs;
    return { since, remove: () => unlink(path).catch(() => undefined) };
  }

  /**
   * The start time of the oldest writer still running (blobs written after it
   * may belong to a commit in progress), or undefined when none is. Markers
   * and temporaries of dead processes on this host are cleaned up on the way.
   */
  async liveWritersSince(): Promise<number | undefined> {
    let names: string[];
    try {
      names = await readdir(this.realRoot);
    } catch (err) {
      throw ioError(err, "cannot read layout", this.root);
    }
    let oldest: number | undefined;
    for (const name of names) {
      const m = /^\.dray-(tmp|writer)-(\d+)-[0-9a-f]+$/.exec(name);
      if (!m) continue;
      const path = join(this.realRoot, name);
      const pid = Number(m[2]);
      if (m[1] === "tmp") {
        // Only this user's own, never through a link (a shared layout may hold another user's file of that name).
        if (!isPidAlive(pid)) await removeOwnTemporary(this.realRoot, name);
        continue;
      }
      const info = await readMarker(path);
      const since = (await lstat(path).catch(() => undefined))?.mtimeMs;
      if (since === undefined) continue; // finished meanwhile
      // A marker from another host cannot be checked: it counts as live.
      if (info && (info.host !== HOSTNAME || isPidAlive(info.pid))) oldest = Math.min(oldest ?? since, since);
      else await removeOwnTemporary(this.realRoot, name);
    }
    return oldest;
  }
}

async function pathExists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

async function readMarker(path: string): Promise<{ pid: number; host: string } | undefined> {
  try {
    const bytes = await readFileCapped(path, 4096, "writer marker");
    const doc = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
    if (typeof doc.pid === "number" && typeof doc.host === "string") {
      return { pid: doc.pid, host: doc.host };
    }
  } catch {
    // unreadable marker: treated as dead
  }
  return undefined;
}
