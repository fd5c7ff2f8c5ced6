// Layers recompressed on the way (`--compress`, or zstd into a destination
// that cannot hold it): the source bytes are verified against their digest,
// inflated (bomb-capped) and checked against the config's diff_id, then
// compressed again. The new digest and size are known only at the end, and
// a destination wants both before it takes a blob, so the result is spooled
// once to a temporary file, hashed on the way, and put from there (verified
// again as it is read).
import { createReadStream, createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { IntegrityError } from "../errors.js";
import { Measure, VerifyingStream, type Digest } from "../oci/digest.js";
import type { Descriptor } from "../oci/manifest.js";
import { compressStream, decompressStages } from "../oci/compression.js";
import { layerCompression, type LayerCompression } from "../oci/mediatype.js";
import { formatLocation } from "../ref/location.js";
import { makeTemporaryFolder } from "../transport/temporaries.js";
import type { ImageSource } from "../transport/types.js";
import type { CopySession } from "./session.js";
import { pipeToSink } from "./stream.js";

/** A layer as it will be stored after recompression. */
export interface NewLayer {
  digest: Digest;
  size: number;
  compression: LayerCompression;
  /** The source layer's compression. */
  from: LayerCompression;
}

/** What happened to a layer, in words: decompressed (to plain tar), compressed (from plain tar) or recompressed. */
export function layerChange(from: LayerCompression, to: LayerCompression): string {
  if (to === "none") return `decompressed (${from} to plain tar)`;
  if (from === "none") return `compressed (plain tar to ${to})`;
  return from === to ? `recompressed (${to})` : `recompressed (${from} to ${to})`;
}

/**
 * Recompresses one layer to `to` and puts it at the destination, once per
 * session for the same source layer and target (later callers share it).
 */
export function recompressLayer(
  session: CopySession,
  src: ImageSource,
  desc: Descriptor,
  diffId: Digest,
  to: LayerCompression,
  level: number | undefined,
): Promise<NewLayer> {
  return session.once(session.recompressed, `${desc.digest}>${to}`, () =>
    session.transfers(() => recompressOnce(session, src, desc, diffId, to, level), session.transferWeight(desc.size)),
  );
}

async function recompressOnce(
  session: CopySession,
  src: ImageSource,
  desc: Descriptor,
  diffId: Digest,
  to: LayerCompression,
  level: number | undefined,
): Promise<NewLayer> {
  session.checkAborted();
  const from = layerCompression(desc.mediaType) ?? "none";
  const at = `${formatLocation(src.location)} blob ${desc.digest}`;
  if (from === "none" && !desc.digest.equals(diffId)) {
    throw new IntegrityError(`uncompressed layer ${desc.digest} does not match its diff_id ${diffId} (${at})`, {
      code: "E_DIGEST_MISMATCH",
      where: at,
    });
  }
  const digest = desc.digest.toString();
  const signal = session.signal;
  session.emit({ type: "blob-start", digest, size: desc.size, mediaType: desc.mediaType });
  const dir = await makeTemporaryFolder("recompress");
  try {
    const file = join(dir, "layer");
    const measure = new Measure();
    const stages: NodeJS.ReadWriteStream[] = [
      new VerifyingStream({
        digest: desc.digest,
        size: desc.size,
        where: at,
        onBytes: (n) => session.emit({ type: "blob-bytes", digest, n }),
      }),
      ...decompressStages(from, desc.size, at),
      ...(from === "none" ? [] : [new VerifyingStream({ digest: diffId, where: `${at} (uncompressed)` })]),
      compressStream(to, level),
      measure,
    ];
    const what = `blob ${desc.digest}`;
    const spool = `the spool file ${file}`;
    await pipeToSink([await src.getBlob(desc, { signal }), ...stages], (out) => spoolTo(out, file), signal, {
      what,
      source: formatLocation(src.location),
      destination: spool,
    });
    const placed: NewLayer = { digest: measure.digester.digest(), size: measure.digester.bytes, compression: to, from };
    const target: Descriptor = { mediaType: desc.mediaType, digest: placed.digest, size: placed.size };
    const outcome = (await session.dst.hasBlob(target, { signal })) ? "skipped" : "copied";
    if (outcome === "copied") {
      const change = to === "none" ? "decompressed" : from === "none" ? "compressed" : "recompressed";
      const check = new VerifyingStream({ digest: placed.digest, size: placed.size, where: `${at} (${change})` });
      await pipeToSink([createReadStream(file), check], (verified) => session.dst.putBlob(target, verified, { signal }), signal, {
        what: `${what} (${change} as ${placed.digest})`,
        source: spool,
        destination: formatLocation(session.dst.location),
      });
      session.counts.copied++;
      session.bytes += placed.size; // what was stored, as the plan counted it
    } else {
      session.counts.skipped++;
    }
    session.blobs.set(placed.digest.toString(), Promise.resolve({ digest: placed.digest.toString(), size: placed.size }));
    const stored = { digest: placed.digest.toString(), size: placed.size, change: layerChange(from, to) };
    session.emit({ type: "blob-done", digest, size: desc.size, outcome, stored });
    return placed;
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

async function spoolTo(data: NodeJS.ReadableStream, file: string): Promise<void> {
  await pipeline(data, createWriteStream(file, { mode: 0o600 }));
}
