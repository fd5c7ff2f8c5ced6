// Layer (de)compression streams for gzip, zstd and plain tar. zstd comes from
// Node's own zlib where it has it (22.15 and newer, feature-detected);
// on older Node, decompression is fzstd (a pure-JS streaming decoder, no
// install step) and compression the zstd C library built to WebAssembly
// (@bokuweb/zstd-wasm: the .wasm file ships inside the npm package, nothing
// is downloaded at install). Every decompressor is followed by the same
// bomb cap as gzip (decompress.ts).
import { createRequire } from "node:module";
import { Duplex, PassThrough, type Transform } from "node:stream";
import * as zlib from "node:zlib";
import { UsageError } from "../errors.js";
import { SizeCap, createLayerGunzip, decompressionLimit } from "./decompress.js";
import type { LayerCompression } from "./mediatype.js";

/** Node 22.15+ zlib: zstd streams and the compression-level parameter. */
interface ZlibZstd {
  createZstdCompress?: (opts?: { params?: Record<number, number> }) => Transform;
  createZstdDecompress?: () => Transform;
  constants: { ZSTD_c_compressionLevel?: number };
}

// zlib's zstd (Node 22.15+) is missing from the Node 20 typings this package builds with: described above, checked at run time.
const nodeZstd = zlib as unknown as ZlibZstd;

/** True when this Node has zstd in zlib (otherwise the npm fallbacks are used). */
export function hasNativeZstd(): boolean {
  return typeof nodeZstd.createZstdDecompress === "function" && typeof nodeZstd.createZstdCompress === "function";
}

/**
 * A fallback codec, loaded on first use with require(): the bundled CLI runs
 * as a vm.Script where import() has no loader, and zstd-wasm reads its .wasm
 * beside its own file, so both stay in node_modules.
 */
function load<T>(name: string): T {
  return createRequire(import.meta.url)(name) as T;
}

/** Input slice fed to fzstd at a time: one slice of RLE blocks expands to at most ~16 MiB before the consumer is asked again. */
const FZSTD_SLICE = 512;

/** zstd decoding with fzstd; output waits for the consumer between slices (backpressure through the generator). */
function fzstdDecompress(): Duplex {
  return Duplex.from(async function* (source: AsyncIterable<Buffer>) {
    const { Decompress } = load<typeof import("fzstd")>("fzstd");
    const out: Uint8Array[] = [];
    const decoder = new Decompress((chunk: Uint8Array) => {
      out.push(chunk);
    });
    const drain = function* (): Generator<Buffer> {
      while (out.length > 0) {
        const c = out.shift()!;
        yield Buffer.from(c.buffer, c.byteOffset, c.byteLength);
      }
    };
    for await (const chunk of source) {
      for (let i = 0; i < chunk.length; i += FZSTD_SLICE) {
        decoder.push(chunk.subarray(i, i + FZSTD_SLICE));
        yield* drain();
      }
    }
    decoder.push(new Uint8Array(0), true);
    yield* drain();
  });
}

/** zstd frames made one MiB of input at a time: concatenated frames are one valid zstd stream (RFC 8878 §3.1). */
const WASM_FRAME_INPUT = 1024 * 1024;

type ZstdWasm = typeof import("@bokuweb/zstd-wasm");
let wasmReady: Promise<ZstdWasm> | undefined;

/** The WebAssembly module, instantiated once: a second init() would swap the memory under a running compress. */
function zstdWasm(): Promise<ZstdWasm> {
  wasmReady ??= (async () => {
    const zstd = load<ZstdWasm>("@bokuweb/zstd-wasm");
    await zstd.init();
    return zstd;
  })();
  return wasmReady;
}

function wasmZstdCompress(level: number): Duplex {
  return Duplex.from(async function* (source: AsyncIterable<Buffer>) {
    const zstd = await zstdWasm();
    let pending: Buffer[] = [];
    let size = 0;
    let frames = 0;
    const frame = (): Buffer => {
      const input = Buffer.concat(pending);
      pending = [];
      size = 0;
      frames++;
      return Buffer.from(zstd.compress(input, level));
    };
    for await (const chunk of source) {
      pending.push(chunk);
      size += chunk.length;
      if (size >= WASM_FRAME_INPUT) yield frame();
    }
    if (size > 0 || frames === 0) yield frame();
  });
}

/**
 * The one decompressor every command uses (copy, export, cat): gzip, or zstd
 * from Node's zlib where it has it, else fzstd. Not capped: callers add SizeCap.
 */
export function createDecompressor(from: Exclude<LayerCompression, "none">): Duplex {
  if (from === "gzip") return createLayerGunzip();
  return typeof nodeZstd.createZstdDecompress === "function" ? nodeZstd.createZstdDecompress() : fzstdDecompress();
}

/** The stages that turn `from`-compressed bytes into a plain tar, capped like gzip. */
export function decompressStages(from: LayerCompression, compressedSize: number, where: string): NodeJS.ReadWriteStream[] {
  if (from === "none") return [];
  const inflate = createDecompressor(from);
  // A bomb (a few MB inflating to terabytes) fails at the cap, before a disk fills.
  return [inflate, new SizeCap(decompressionLimit(compressedSize), where)];
}

/** A stream compressing a plain tar to `to` at `level` (the codec's default when undefined). */
export function compressStream(to: LayerCompression, level: number | undefined): NodeJS.ReadWriteStream {
  switch (to) {
    case "none":
      return new PassThrough();
    case "gzip":
      return zlib.createGzip(level === undefined ? {} : { level });
    case "zstd": {
      const zstdLevel = level ?? 3;
      if (hasNativeZstd()) return nodeZstd.createZstdCompress!({ params: { [nodeZstd.constants.ZSTD_c_compressionLevel!]: zstdLevel } });
      return wasmZstdCompress(zstdLevel);
    }
  }
}

/** Levels each codec accepts (`--compress-level`). */
export function checkLevel(to: LayerCompression, level: number): void {
  const [min, max] = to === "gzip" ? [0, 9] : to === "zstd" ? [1, 22] : [0, 0];
  if (to === "none" || level < min || level > max || !Number.isInteger(level)) {
    throw new UsageError(
      to === "none" ? "--compress-level has no meaning with --compress none" : `--compress-level for ${to} is ${min}..${max}, not ${level}`,
    );
  }
}
