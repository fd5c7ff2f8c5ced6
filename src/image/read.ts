/**
 * Reading the small documents of an image whole (configs, signature payloads):
 * bounded before the first byte is asked for, and digest-checked as they come.
 * Layers are never read this way; they stream (copy/, content/).
 */
import { pipeline } from "node:stream/promises";
import { IntegrityError } from "../errors.js";
import { VerifyingStream } from "../oci/digest.js";
import { MAX_CONFIG_BYTES, type Descriptor } from "../oci/manifest.js";
import { formatLocation } from "../ref/location.js";
import type { ImageSource } from "../transport/types.js";

export interface ReadSmallBlobOptions {
  /** Refused above this many bytes; default MAX_CONFIG_BYTES. */
  max?: number;
  /** For messages; default the source's location and the blob's digest. */
  where?: string;
  signal?: AbortSignal;
}

/** Reads the blob `desc` of `source` into memory, refusing it before its GET when its size is over the limit. */
export async function readSmallBlob(source: ImageSource, desc: Descriptor, opts: ReadSmallBlobOptions = {}): Promise<Buffer> {
  const where = opts.where ?? `${formatLocation(source.location)} blob ${desc.digest}`;
  const max = opts.max ?? MAX_CONFIG_BYTES;
  if (desc.size > max) throw tooLarge(desc, max, where);
  const signal = opts.signal ? { signal: opts.signal } : {};
  const data = await source.getBlob(desc, signal);
  const chunks: Buffer[] = [];
  await pipeline(
    data,
    new VerifyingStream({ digest: desc.digest, size: desc.size, where }),
    async (verified: AsyncIterable<Buffer>) => {
      for await (const chunk of verified) chunks.push(chunk);
    },
    signal,
  );
  return Buffer.concat(chunks);
}

function tooLarge(desc: Descriptor, max: number, where: string): IntegrityError {
  return new IntegrityError(`${where}: ${desc.size} bytes exceeds the ${max}-byte limit`, {
    code: "E_TOO_LARGE",
    where,
  });
}
