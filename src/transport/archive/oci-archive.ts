// An oci-archive opened for reading: the tar indexed once, index.json
// parsed with the layout transport's parser, blobs served from their byte
// ranges. Reference resolution and reachability reuse the layout's code
// through the small read-only face they need (root, hasBlob, readBlob), and
// the layout's LayoutSource reads it as an ImageSource.
import { addAbortSignal, type Readable, type Transform } from "node:stream";
import { IntegrityError, NotFoundError } from "../../errors.js";
import { Digest, VerifyingStream, verifyBytes } from "../../oci/digest.js";
import { MAX_MANIFEST_BYTES } from "../../oci/manifest.js";
import type { LayoutLocation } from "../../ref/location.js";
import type { TransportOptions } from "../types.js";
import { MAX_INDEX_JSON_BYTES, parseIndexJson, type LayoutIndex } from "../layout/index-json.js";
import type { BlobReader } from "../layout/resolve.js";
import type { BlobStore } from "../layout/source.js";
import { spoolInput } from "./staging.js";
import { TarIndex, type TarEntry } from "./tar-index.js";

const BLOB_NAME_RE = /^blobs\/([^/]+)\/([^/]+)$/;

/** The blobs of an indexed oci-archive. Every blob read is size-checked and verified against its digest. */
export class ArchiveBlobs implements BlobReader, BlobStore {
  constructor(
    readonly tar: TarIndex,
    /** The archive as the user named it, for messages. */
    readonly root: string,
  ) {}

  /** The tar entry of a blob; links are refused (an OCI blob is a regular file). */
  entry(digest: Digest): TarEntry {
    return this.tar.resolveFile(digest.blobPath, `blob ${digest}`, false);
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    return this.tar.has(digest.blobPath);
  }

  /** The blob's size in the archive; E_NOT_FOUND when absent. */
  async blobSize(digest: Digest): Promise<number> {
    return this.entry(digest).size;
  }

  async readBlob(digest: Digest, opts: { max?: number; size?: number } = {}): Promise<Buffer> {
    const where = `${this.root} ${digest.blobPath}`;
    const bytes = await this.tar.readBytes(this.entry(digest), opts.max ?? MAX_MANIFEST_BYTES, `blob ${digest}`);
    verifyBytes(bytes, { digest, size: opts.size !== undefined && opts.size >= 0 ? opts.size : undefined, where });
    return bytes;
  }

  /** A verifying stream of the blob: the digest and size are checked as it is read, so a tampered blob fails. */
  openBlob(digest: Digest, opts: { size?: number; signal?: AbortSignal } = {}): Readable {
    const entry = this.entry(digest);
    const where = `${this.root} ${digest.blobPath}`;
    if (opts.size !== undefined && opts.size >= 0 && entry.size !== opts.size) {
      throw new IntegrityError(`blob ${digest} has ${entry.size} bytes in the archive, expected ${opts.size}`, {
        code: "E_SIZE_MISMATCH",
        where,
      });
    }
    opts.signal?.throwIfAborted();
    return verifiedStream(this.tar.stream(entry), new VerifyingStream({ digest, size: entry.size, where }), opts.signal);
  }
}

/**
 * `raw` piped into `check`, returned as one stream: an error on either side
 * destroys the other, and aborting `signal` destroys both (closing the file).
 */
export function verifiedStream(raw: Readable, check: Transform, signal?: AbortSignal): Readable {
  raw.on("error", (err) => check.destroy(err));
  check.on("close", () => raw.destroy());
  if (signal) addAbortSignal(signal, check);
  return raw.pipe(check);
}

export interface OpenedOciArchive {
  blobs: ArchiveBlobs;
  index: LayoutIndex;
  /** Removes the spooled copy of standard input, if any. */
  cleanup: () => Promise<void>;
}

/** Opens `loc.path` (or standard input for `-`), indexes it and reads index.json. */
export async function openOciArchive(loc: LayoutLocation, opts: TransportOptions): Promise<OpenedOciArchive> {
  const spooled = loc.path === "-" ? await spoolInput(opts.stdin, opts) : undefined;
  const file = spooled?.file ?? loc.path;
  const name = loc.path === "-" ? "oci-archive:-" : loc.path;
  try {
    const tar = await TarIndex.open(file);
    checkBlobNames(tar, name);
    const blobs = new ArchiveBlobs(tar, name);
    const index = await readIndexJson(tar, name);
    return { blobs, index, cleanup: spooled?.cleanup ?? (async () => undefined) };
  } catch (err) {
    await spooled?.cleanup();
    throw err;
  }
}

/** Files under blobs/ must be named ALG/HEX with a valid digest: anything else is not an OCI archive dray will read. */
function checkBlobNames(tar: TarIndex, where: string): void {
  for (const e of tar.entries) {
    if (e.kind === "directory" || !e.name.startsWith("blobs/")) continue;
    const m = BLOB_NAME_RE.exec(e.name);
    if (!m || !Digest.isValid(`${m[1]}:${m[2]}`)) {
      throw new IntegrityError(`${where}: ${JSON.stringify(e.name.slice(0, 200))} is not a blob name (blobs/ALG/HEX with a valid digest)`, {
        code: "E_UNSAFE_INPUT",
        where,
      });
    }
  }
}

async function readIndexJson(tar: TarIndex, where: string): Promise<LayoutIndex> {
  if (!tar.has("index.json")) throw new NotFoundError(`${where} is not an OCI archive (no index.json)`, { where });
  const entry = tar.resolveFile("index.json", "index.json", false);
  return parseIndexJson(await tar.readBytes(entry, MAX_INDEX_JSON_BYTES, "index.json"), where);
}
