import { Readable } from "node:stream";
import { IntegrityError, UnsupportedError, isDrayError } from "../errors.js";
import { VerifyingStream, type Digest } from "../oci/digest.js";
import type { Descriptor } from "../oci/manifest.js";
import { layerCompression, uncompressedLayerType } from "../oci/mediatype.js";
import { formatLocation } from "../ref/location.js";
import { decompressStages } from "../oci/compression.js";
import type { ImageCopy, PlacedBlob } from "./session.js";
import { readSmallBlob } from "../image/read.js";
import { openedLater, pipeToSink } from "./stream.js";

/** Tries of one blob transfer when the network breaks it (the source is opened again each time). */
const BLOB_ATTEMPTS = 3;

/**
 * Places one blob at the destination, at most once per session: concurrent
 * and later requests for the same digest share the first one's promise.
 * A blob the destination has is skipped; one in the same registry is mounted;
 * any other is streamed, verified on the way.
 */
export function placeBlob(copy: ImageCopy, desc: Descriptor): Promise<PlacedBlob> {
  const { session } = copy;
  return session.once(session.blobs, desc.digest.toString(), () => placeNew(copy, desc));
}

/**
 * Places a layer decompressed, as a destination that needs uncompressed
 * layers (docker-archive) wants it: keyed by its diff_id, which the bytes are
 * checked against. Never asks hasBlob, since the real size (needed for the new
 * manifest) is only known by reading the layer.
 */
export function placeUncompressedLayer(copy: ImageCopy, desc: Descriptor, diffId: Digest): Promise<PlacedBlob> {
  const { session } = copy;
  return session.once(session.blobs, diffId.toString(), () =>
    session.transfers(() => streamUncompressed(copy, desc, diffId), session.transferWeight(desc.size)),
  );
}

async function placeNew(copy: ImageCopy, desc: Descriptor): Promise<PlacedBlob> {
  const { session, src } = copy;
  const { dst } = session;
  const placed: PlacedBlob = { digest: desc.digest.toString(), size: desc.size };
  const outcome = await session.requests(async () => {
    const signal = { signal: session.signal };
    if (await dst.hasBlob(desc, signal)) return "skipped" as const;
    if (dst.capabilities.supportsMount && dst.mountBlob && (await dst.mountBlob(desc, src.blobOrigin?.(desc) ?? src.location, signal)))
      return "mounted" as const;
    return undefined;
  });
  if (outcome) {
    session.counts[outcome]++;
    session.emit({ type: "blob-done", digest: placed.digest, size: desc.size, outcome });
    return placed;
  }
  await session.transfers(() => streamBlob(copy, desc), session.transferWeight(desc.size));
  return placed;
}

/** The source's bytes of a blob: a config read during planning is replayed from memory. */
async function openBlob({ session, src }: ImageCopy, desc: Descriptor): Promise<Readable> {
  const cached = session.configs.get(desc.digest.toString());
  if (cached) return Readable.from([await cached]);
  return src.getBlob(desc, { signal: session.signal });
}

/** One blob's way from the source to the destination: the stages its bytes pass, and the descriptor it is stored under. */
interface BlobMove {
  /** The blob as the source holds it. */
  desc: Descriptor;
  stages: NodeJS.ReadWriteStream[];
  /** The blob as the destination stores it (the same, or decompressed). */
  target: Descriptor;
}

/**
 * The source's bytes of `desc` through `stages` into the destination as `target`. The source is opened inside
 * the pipeline, so the destination's upload POST goes out while the GET is on its way (one place for every
 * blob that moves, so no path misses it).
 */
function moveBlob(copy: ImageCopy, { desc, stages, target }: BlobMove): Promise<void> {
  const { session, src } = copy;
  const { signal } = session;
  return pipeToSink([openedLater(() => openBlob(copy, desc)), ...stages], (out) => session.dst.putBlob(target, out, { signal }), signal, {
    what: `blob ${desc.digest}`,
    source: formatLocation(src.location),
    destination: formatLocation(session.dst.location),
  });
}

/** A blob of the copy's source, in words: `LOCATION blob DIGEST`. */
export function blobWhere(copy: ImageCopy, desc: Descriptor): string {
  return `${copy.where} blob ${desc.digest}`;
}

async function streamBlob(copy: ImageCopy, desc: Descriptor): Promise<void> {
  const { session } = copy;
  session.checkAborted();
  const digest = desc.digest.toString();
  session.emit({ type: "blob-start", digest, size: desc.size, mediaType: desc.mediaType });
  const signal = session.signal;
  // A transfer that broke on the network (a cut upload a stream cannot replay)
  // is started again from the source, a bounded number of times.
  for (let attempt = 0; ; attempt++) {
    const verify = new VerifyingStream({
      digest: desc.digest,
      size: desc.size,
      where: blobWhere(copy, desc),
      onBytes: (n) => session.emit({ type: "blob-bytes", digest, n }),
    });
    try {
      await moveBlob(copy, { desc, stages: [verify], target: desc });
      break;
    } catch (err) {
      if (attempt >= BLOB_ATTEMPTS - 1 || signal.aborted || !isDrayError(err, "E_NETWORK")) throw err;
      // Progress already reported for this attempt is taken back.
      if (verify.bytesSeen > 0) session.emit({ type: "blob-bytes", digest, n: -verify.bytesSeen });
    }
  }
  session.counts.copied++;
  session.bytes += desc.size;
  session.emit({ type: "blob-done", digest, size: desc.size, outcome: "copied" });
}

async function streamUncompressed(copy: ImageCopy, desc: Descriptor, diffId: Digest): Promise<PlacedBlob> {
  const { session } = copy;
  session.checkAborted();
  const compression = layerCompression(desc.mediaType);
  const at = blobWhere(copy, desc);
  if (compression === undefined)
    throw new UnsupportedError(`cannot decompress ${desc.mediaType} (${at}): not a known layer type`, { where: at });
  if (compression === "none" && !desc.digest.equals(diffId)) {
    throw new IntegrityError(`uncompressed layer ${desc.digest} does not match its diff_id ${diffId} (${at})`, {
      code: "E_DIGEST_MISMATCH",
      where: at,
    });
  }
  const digest = desc.digest.toString();
  const target: Descriptor = { mediaType: uncompressedLayerType(desc.mediaType), digest: diffId, size: -1 };
  const compressed = new VerifyingStream({
    digest: desc.digest,
    size: desc.size,
    where: at,
    onBytes: (n) => session.emit({ type: "blob-bytes", digest, n }),
  });
  const stages: NodeJS.ReadWriteStream[] = [compressed];
  // The last verifier sees the bytes as stored, so its count is the stored size.
  let stored = compressed;
  if (compression !== "none") {
    stored = new VerifyingStream({ digest: diffId, where: `${at} (uncompressed)` });
    stages.push(...decompressStages(compression, desc.size, at), stored);
  }
  session.emit({ type: "blob-start", digest, size: desc.size, mediaType: desc.mediaType });
  await moveBlob(copy, { desc, stages, target });
  session.counts.copied++;
  session.bytes += desc.size;
  session.emit({ type: "blob-done", digest, size: desc.size, outcome: "copied" });
  return { digest: diffId.toString(), size: stored.bytesSeen };
}

/** Reads a config into memory once per session (for its platform or diff_ids) and keeps it to copy later. */
export function readConfig(copy: ImageCopy, desc: Descriptor): Promise<Buffer> {
  const { session, src } = copy;
  return session.once(session.configs, desc.digest.toString(), () =>
    session.requests(async () => readSmallBlob(src, desc, { where: blobWhere(copy, desc), signal: session.signal })),
  );
}
