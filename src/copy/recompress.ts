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
import type { ImageCopy } from "./session.js";
import { pipeToSink } from "./stream.js";
import { blobWhere } from "./blobs.js";

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

/** What a layer becomes: the compression to store it in, and the config's diff_id its inflated bytes must match. */
export interface LayerTarget {
  diffId: Digest;
  to: LayerCompression;
}

/**
 * Recompresses one layer to `to` (at the copy's `compressLevel`) and puts it
 * at the destination, once per session for the same source layer and target
 * (later callers share it).
 */
export function recompressLayer(copy: ImageCopy, desc: Descriptor, target: LayerTarget): Promise<NewLayer> {
  const { session } = copy;
  return session.once(session.recompressed, `${desc.digest}>${target.to}`, () =>
    session.transfers(() => recompressOnce(copy, desc, target), session.transferWeight(desc.size)),
  );
}

async function recompressOnce(copy: ImageCopy, desc: Descriptor, target: LayerTarget): Promise<NewLayer> {
  const { session } = copy;
  session.checkAborted();
  const from = layerCompression(desc.mediaType) ?? "none";
  const at = blobWhere(copy, desc);
  if (from === "none" && !desc.digest.equals(target.diffId)) {
    throw new IntegrityError(`uncompressed layer ${desc.digest} does not match its diff_id ${target.diffId} (${at})`, {
      code: "E_DIGEST_MISMATCH",
      where: at,
    });
  }
  const digest = desc.digest.toString();
  session.emit({ type: "blob-start", digest, size: desc.size, mediaType: desc.mediaType });
  const dir = await makeTemporaryFolder("recompress");
  try {
    const file = join(dir, "layer");
    const layer = await spoolRecompressed(copy, desc, { ...target, file });
    const outcome = await putSpooled(copy, desc, { layer, file });
    session.blobs.set(layer.digest.toString(), Promise.resolve({ digest: layer.digest.toString(), size: layer.size }));
    const stored = { digest: layer.digest.toString(), size: layer.size, change: layerChange(from, target.to) };
    session.emit({ type: "blob-done", digest, size: desc.size, outcome, stored });
    return layer;
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** A layer recompressed into a spool file: its new digest and size are known only once all of it is written. */
interface Spooled {
  layer: NewLayer;
  file: string;
}

/** The source layer verified, inflated (checked against its diff_id), compressed as `to` and written to `file`. */
async function spoolRecompressed(
  copy: ImageCopy,
  desc: Descriptor,
  { diffId, to, file }: LayerTarget & { file: string },
): Promise<NewLayer> {
  const { session, src } = copy;
  const from = layerCompression(desc.mediaType) ?? "none";
  const at = blobWhere(copy, desc);
  const digest = desc.digest.toString();
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
    compressStream(to, copy.opts.compressLevel),
    measure,
  ];
  const { signal } = session;
  await pipeToSink([await src.getBlob(desc, { signal }), ...stages], (out) => spoolTo(out, file), signal, {
    what: `blob ${desc.digest}`,
    source: copy.where,
    destination: `the spool file ${file}`,
  });
  return { digest: measure.digester.digest(), size: measure.digester.bytes, compression: to, from };
}

/** Puts a spooled layer (verified again as it is read) unless the destination has it; counts it either way. */
async function putSpooled(copy: ImageCopy, desc: Descriptor, { layer, file }: Spooled): Promise<"copied" | "skipped"> {
  const { session } = copy;
  const { signal } = session;
  const target: Descriptor = { mediaType: desc.mediaType, digest: layer.digest, size: layer.size };
  if (await session.dst.hasBlob(target, { signal })) {
    session.counts.skipped++;
    return "skipped";
  }
  const change = layer.compression === "none" ? "decompressed" : layer.from === "none" ? "compressed" : "recompressed";
  const check = new VerifyingStream({ digest: layer.digest, size: layer.size, where: `${blobWhere(copy, desc)} (${change})` });
  await pipeToSink([createReadStream(file), check], (verified) => session.dst.putBlob(target, verified, { signal }), signal, {
    what: `blob ${desc.digest} (${change} as ${layer.digest})`,
    source: `the spool file ${file}`,
    destination: formatLocation(session.dst.location),
  });
  session.counts.copied++;
  session.bytes += layer.size; // what was stored, as the plan counted it
  return "copied";
}

async function spoolTo(data: NodeJS.ReadableStream, file: string): Promise<void> {
  await pipeline(data, createWriteStream(file, { mode: 0o600 }));
}
