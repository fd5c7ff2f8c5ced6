import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DrayError, IoError, NetworkError, isAbortError } from "../errors.js";

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

type Side = "source" | "destination";

/** What a blob's pipeline moves and between where, to name the side of a failure that is not a DrayError yet. */
export interface PipeEnds {
  /** `blob sha256:…`. */
  what: string;
  /** Where the bytes come from (a location). */
  source: string;
  /** Where they go. */
  destination: string;
}

/** Socket failures: the transfer broke on the network, so it is a NetworkError (the engine starts the blob again). */
const SOCKET_ERRORS = new Set(["EPIPE", "ECONNRESET", "ECONNABORTED", "ETIMEDOUT", "UND_ERR_SOCKET"]);

/**
 * `stream.pipeline(source, …stages, sink)` where the sink is an async
 * consumer handed the last stage as a Readable (a destination's putBlob).
 * Any stage failing (a digest mismatch) destroys the others and rejects the
 * sink's read; the sink failing destroys the source; `signal` stops all.
 * It settles only once the sink has (no upload left running beside a retry),
 * and always with a DrayError: a bare stream error (EPIPE, "Premature close")
 * becomes one naming `ends.what` and the side it came from.
 */
export async function pipeToSink(
  stages: readonly [Stage | LaterSource, ...Stage[]],
  sink: (data: Readable) => Promise<void>,
  signal: AbortSignal,
  ends: PipeEnds,
): Promise<void> {
  // Node's typings cannot express a function sink after a variable-length chain of stages.
  const run = pipeline as unknown as (
    streams: ReadonlyArray<Stage | LaterSource | ((last: Readable) => Promise<void>)>,
    options: { signal: AbortSignal },
  ) => Promise<void>;
  const [first, ...rest] = stages;
  // The first error a stage emitted (the source's read, a decompressor on its bytes, or one the pipeline
  // destroyed it with), and which side failed first: a stage, or the sink.
  let stageError: unknown;
  let firstSide: Side | undefined;
  const noteError = (err: unknown): void => {
    // An abort is the pipeline tearing the stage down after another failure, not the stage's own.
    if (isAbortError(err)) return;
    stageError ??= err;
    firstSide ??= "source";
  };
  for (const stage of rest) (stage as NodeJS.EventEmitter).once("error", noteError);
  let source: Stage | LaterSource = first;
  if (typeof first === "function") {
    source = async function* () {
      try {
        yield* first();
      } catch (err) {
        noteError(err);
        throw err;
      }
    };
  } else (first as NodeJS.EventEmitter).once("error", noteError);
  let sinkError: unknown;
  let sinking: Promise<void> = Promise.resolve();
  // The last stage closed without an error before its end: the sink's consumer gave it up (undici does so to a
  // request body when the answer comes); the pipeline says "Premature close", or an abort it replaces that with.
  let closedEarly = false;
  const consume = (last: Readable): Promise<void> => {
    last.once("close", () => {
      closedEarly ||= !last.readableEnded && (!last.errored || isAbortError(last.errored));
    });
    sinking = sink(last).catch((err: unknown) => {
      sinkError = err;
      firstSide ??= "destination";
      throw err;
    });
    return sinking;
  };
  try {
    await run([source, ...rest, consume], { signal });
  } catch (err) {
    // The pipeline gives up at its first error; the sink may still be at work (a request being aborted).
    await sinking.catch(() => undefined);
    // A registry hanging up mid-upload makes undici destroy the body with a bare EPIPE/ECONNRESET, which the
    // pipeline may see before the sink's typed NetworkError (the one the engine retries): the typed one tells more.
    if (err instanceof DrayError) throw err;
    if (sinkError instanceof DrayError) throw sinkError;
    if (firstSide === "destination") throw streamFailure(sinkError, "destination", ends, signal);
    if (stageError !== undefined) throw streamFailure(stageError, "source", ends, signal);
    throw streamFailure(closedEarly ? new Error("the stream was closed before its end", { cause: err }) : err, "destination", ends, signal);
  } finally {
    for (const stage of stages) if (typeof stage !== "function") (stage as NodeJS.EventEmitter).off("error", noteError);
  }
}

/**
 * A bare stream error as a DrayError naming the blob and the side it came from: the sink's own error, or a
 * stage closed under the pipeline ("Premature close") by whoever consumes the last one, is the destination's;
 * an error a stage emitted (the source's read, a decompressor on its bytes) is the source's. An abort stays an abort.
 */
function streamFailure(err: unknown, side: Side, ends: PipeEnds, signal: AbortSignal): unknown {
  if (signal.aborted && isAbortError(err)) return err;
  const where = side === "source" ? ends.source : ends.destination;
  const message = `${ends.what}: ${side === "source" ? "reading from" : "writing to"} ${where} failed: ${err instanceof Error ? err.message : String(err)}`;
  const code = err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
  return code !== undefined && SOCKET_ERRORS.has(code)
    ? new NetworkError(message, { where, cause: err })
    : new IoError(message, { where, cause: err });
}
