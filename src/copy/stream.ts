import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DrayError, IntegrityError } from "../errors.js";
import { VerifyingStream } from "../oci/digest.js";
import type { Descriptor } from "../oci/manifest.js";

/** Configs are read whole (the engine parses them); anything larger than this is not a config. */
export const MAX_CONFIG_BYTES = 32 * 1024 * 1024;

/** Reads a small blob (an image config) into memory, verified against its descriptor. */
export async function readSmallBlob(data: Readable, desc: Descriptor, where: string, signal: AbortSignal): Promise<Buffer> {
  if (desc.size > MAX_CONFIG_BYTES) {
    data.destroy();
    throw new IntegrityError(`config ${desc.digest} of ${desc.size} bytes exceeds the ${MAX_CONFIG_BYTES}-byte limit`, {
      code: "E_TOO_LARGE",
      where,
    });
  }
  const chunks: Buffer[] = [];
  await pipeline(
    data,
    new VerifyingStream({ digest: desc.digest, size: desc.size, where }),
    async (verified: AsyncIterable<Buffer>) => {
      for await (const chunk of verified) chunks.push(chunk);
    },
    { signal },
  );
  return Buffer.concat(chunks);
}

type Stage = NodeJS.ReadableStream | NodeJS.ReadWriteStream;
/** A pipeline's first stage that opens its stream when the pipeline runs. */
type LaterSource = () => AsyncGenerator<Buffer>;

/**
 * A source opened only once the pipeline runs, so that the sink starts at the
 * same time: an upload's POST goes out while the blob's GET is on its way,
 * one round trip instead of two before the first byte moves. Ending the
 * pipeline early destroys the opened stream (the iterator's return does).
 */
export function openedLater(open: () => Promise<Readable>): LaterSource {
  return async function* () {
    yield* (await open()) as AsyncIterable<Buffer>;
  };
}

/**
 * `stream.pipeline(source, …stages, sink)` where the sink is an async
 * consumer handed the last stage as a Readable (a destination's putBlob).
 * Any stage failing (a digest mismatch) destroys the others and rejects the
 * sink's read; the sink failing destroys the source; `signal` stops all.
 */
export async function pipeToSink(
  stages: readonly [Stage | LaterSource, ...Stage[]],
  sink: (data: Readable) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  // Node's typings cannot express a function sink after a variable-length chain of stages.
  const run = pipeline as unknown as (
    streams: ReadonlyArray<Stage | LaterSource | ((last: Readable) => Promise<void>)>,
    options: { signal: AbortSignal },
  ) => Promise<void>;
  let sinkError: unknown;
  const consume = async (last: Readable): Promise<void> => {
    try {
      await sink(last);
    } catch (err) {
      sinkError = err;
      throw err;
    }
  };
  try {
    await run([...stages, consume], { signal });
  } catch (err) {
    // A registry hanging up mid-upload makes undici destroy the body with a bare
    // EPIPE/ECONNRESET, which pipeline may see before the sink's typed
    // NetworkError (the one the engine retries): the typed error tells more.
    throw sinkError instanceof DrayError && !(err instanceof DrayError) ? sinkError : err;
  }
}
