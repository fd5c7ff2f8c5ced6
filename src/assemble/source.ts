// A composed source: the image a command assembles (a new index, a rewritten
// config, appended layers) as one ImageSource the copy engine can read, so
// `index create`, `mutate` and `append` write through the same engine as
// `copy` (skip, mount, verify, order, commit or abort) instead of moving blobs
// themselves. New documents and blobs are served from memory or a spool file;
// everything else is routed, by digest, to the source it came from.
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { IntegrityError, NotFoundError } from "../errors.js";
import type { Digest } from "../oci/digest.js";
import { parseRawManifest, type Descriptor, type RawManifest } from "../oci/manifest.js";
import { formatLocation, type Location } from "../ref/location.js";
import type { BlobReadOptions, ImageSource } from "../transport/types.js";

/** Indexes nest (an index of indexes is legal); deeper than this is refused rather than followed, as in copy. */
const MAX_DEPTH = 4;

type Blob = { kind: "bytes"; bytes: Buffer } | { kind: "file"; path: string } | { kind: "source"; source: ImageSource };

export class ComposedSource implements ImageSource {
  private readonly manifests = new Map<string, RawManifest>();
  private readonly blobs = new Map<string, Blob>();

  /**
   * `location` names the result in messages (the first source's, or the
   * destination's); `top` is what the engine reads as the location's manifest.
   */
  constructor(
    readonly location: Location,
    private top: RawManifest,
  ) {}

  /** Replaces the top manifest (the same composed children under a new index). */
  setTop(raw: RawManifest): void {
    this.top = raw;
  }

  /** A manifest the engine may ask for by digest (a child, new or read from a source). */
  addManifest(raw: RawManifest): void {
    this.manifests.set(raw.digest.toString(), raw);
  }

  addBlob(digest: Digest, bytes: Buffer): void {
    this.blobs.set(digest.toString(), { kind: "bytes", bytes });
  }

  /** A blob spooled to a file (a packed layer); the file must stay until the copy ends. */
  addBlobFile(digest: Digest, path: string): void {
    this.blobs.set(digest.toString(), { kind: "file", path });
  }

  /** A blob read from `source` (the first source to name a digest serves it). */
  routeBlob(digest: Digest, source: ImageSource): void {
    if (!this.blobs.has(digest.toString())) this.blobs.set(digest.toString(), { kind: "source", source });
  }

  getManifest(digest?: Digest): Promise<RawManifest> {
    if (digest === undefined) return Promise.resolve(this.top);
    const raw = digest.equals(this.top.digest) ? this.top : this.manifests.get(digest.toString());
    if (!raw) return Promise.reject(this.missing(`manifest ${digest}`));
    return Promise.resolve(raw);
  }

  async getBlob(desc: Descriptor, opts?: BlobReadOptions): Promise<Readable> {
    const blob = this.blobs.get(desc.digest.toString());
    if (!blob) throw this.missing(`blob ${desc.digest}`);
    switch (blob.kind) {
      case "bytes":
        return Readable.from([blob.bytes]);
      case "file":
        return createReadStream(blob.path, opts?.signal ? { signal: opts.signal } : {});
      case "source":
        return blob.source.getBlob(desc, opts);
    }
  }

  blobOrigin(desc: Descriptor): Location | undefined {
    const blob = this.blobs.get(desc.digest.toString());
    return blob?.kind === "source" ? blob.source.location : undefined;
  }

  /** The sources are the caller's: it opened them and closes them. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  private missing(what: string): NotFoundError {
    // Only a bug can get here: every digest the new documents name was added or routed.
    return new NotFoundError(`${what} is not part of the image assembled for ${formatLocation(this.location)}`);
  }
}

/**
 * Reads `raw`'s children from `source` (digest- and size-checked) and routes
 * every manifest and blob of the tree to it, so the engine can copy the tree
 * out of `into`.
 */
export async function routeTree(
  into: ComposedSource,
  source: ImageSource,
  raw: RawManifest,
  where: string,
  signal?: AbortSignal,
  depth = 0,
): Promise<void> {
  const parsed = parseRawManifest(raw, where);
  into.addManifest(raw);
  if (parsed.kind === "manifest") {
    for (const d of [parsed.config, ...parsed.layers]) into.routeBlob(d.digest, source);
    return;
  }
  if (depth >= MAX_DEPTH)
    throw new IntegrityError(`indexes nested deeper than ${MAX_DEPTH} levels at ${where}`, { code: "E_MANIFEST_INVALID", where });
  await Promise.all(
    parsed.manifests.map(async (d) => routeTree(into, source, await readChild(source, d, where, signal), where, signal, depth + 1)),
  );
}

/** The manifest an index entry names, checked against the entry. */
export async function readChild(source: ImageSource, desc: Descriptor, where: string, signal?: AbortSignal): Promise<RawManifest> {
  const raw = await source.getManifest(desc.digest, signal ? { signal } : {});
  if (!raw.digest.equals(desc.digest) || raw.bytes.length !== desc.size) {
    throw new IntegrityError(`manifest ${desc.digest} (${desc.size} bytes) read as ${raw.digest} (${raw.bytes.length} bytes) at ${where}`, {
      code: "E_DIGEST_MISMATCH",
      where,
    });
  }
  return { ...raw, mediaType: desc.mediaType };
}
