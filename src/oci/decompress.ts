// Decompressing untrusted layers safely: a cap on what a gzip stream may
// expand to (a 1 MB "layer" of zeros can inflate to terabytes), and a tee
// that checks a gzip layer against its diff_id while the compressed bytes
// pass through unchanged.
import { Transform, type TransformCallback } from "node:stream";
import { createGunzip, type Gunzip } from "node:zlib";
import { IntegrityError } from "../errors.js";
import { Digester, type Digest } from "./digest.js";

/**
 * Output chunk of a gunzip. zlib's default is 16 KiB, which splits each MiB
 * of a layer into 64 chunks that every later stage (size cap, hash, file or
 * tar) handles one by one; 128 KiB cuts that eightfold.
 */
const INFLATE_CHUNK_BYTES = 128 * 1024;

/** A gunzip stream with dray's chunk size. */
export function createLayerGunzip(): Gunzip {
  return createGunzip({ chunkSize: INFLATE_CHUNK_BYTES });
}

/** Below this, any expansion is allowed: small layers of zeros are legitimate. */
export const DECOMPRESS_FLOOR_BYTES = 512 * 1024 * 1024;
/**
 * Real layers inflate 2-10×. Deflate itself tops out near 1032×, so a cap
 * must sit well below that to mean anything; past the floor, more than this
 * is treated as a bomb (a layer that is mostly one zero-filled file looks the
 * same and is refused too).
 */
export const DECOMPRESS_MAX_RATIO = 256;

/** The most bytes a gzip stream of `compressedSize` bytes may inflate to. */
export function decompressionLimit(compressedSize: number): number {
  return Math.max(DECOMPRESS_FLOOR_BYTES, Math.max(0, compressedSize) * DECOMPRESS_MAX_RATIO);
}

export function bombError(limit: number, where: string): IntegrityError {
  return new IntegrityError(
    `layer at ${where} decompresses to more than ${limit} bytes (over ${DECOMPRESS_MAX_RATIO}× its compressed size): refusing a likely gzip bomb`,
    { code: "E_TOO_LARGE", where },
  );
}

/** A pass-through that fails once more than `limit` bytes have flowed (put it after a gunzip). */
export class SizeCap extends Transform {
  private seen = 0;

  constructor(
    private readonly limit: number,
    private readonly where: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) {
      done(bombError(this.limit, this.where));
      return;
    }
    done(null, chunk);
  }
}

/**
 * Passes a gzip layer's compressed bytes through unchanged while inflating a
 * copy and hashing it; at the end the hash must equal `diffId`, the bytes
 * must be a complete gzip stream, and the inflated size must stay under
 * decompressionLimit(compressedSize). Used where a docker-archive serves a
 * gzip layer, whose config promises the uncompressed digest.
 */
export class DiffIdCheck extends Transform {
  private readonly gunzip: Gunzip = createLayerGunzip();
  private readonly digester: Digester;
  private readonly limit: number;
  private inflated = 0;
  private failure: Error | undefined;

  constructor(
    private readonly diffId: Digest,
    compressedSize: number,
    private readonly where: string,
  ) {
    super();
    this.digester = new Digester(diffId.algorithm);
    this.limit = decompressionLimit(compressedSize);
    this.gunzip.on("data", (chunk: Buffer) => {
      this.inflated += chunk.length;
      if (this.inflated > this.limit) {
        this.fail(bombError(this.limit, this.where));
        return;
      }
      this.digester.update(chunk);
    });
    this.gunzip.on("error", (err) => {
      this.fail(
        new IntegrityError(`layer at ${where} is not a valid gzip stream: ${err.message}`, {
          code: "E_DIGEST_MISMATCH",
          where,
          cause: err,
        }),
      );
    });
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.gunzip.destroy();
    this.destroy(err);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.failure) return done(this.failure);
    // Wait for the inflater before taking more: a bomb must not buffer up in memory.
    if (this.gunzip.write(chunk)) done(null, chunk);
    else this.gunzip.once("drain", () => done(this.failure ?? null, chunk));
  }

  override _flush(done: TransformCallback): void {
    if (this.failure) return done(this.failure);
    this.gunzip.once("end", () => {
      if (this.failure) return done(this.failure);
      const actual = this.digester.digest();
      if (!actual.equals(this.diffId)) {
        done(
          new IntegrityError(`layer at ${this.where} inflates to ${actual}, but the config's diff_id is ${this.diffId}`, {
            code: "E_DIGEST_MISMATCH",
            where: this.where,
          }),
        );
        return;
      }
      done();
    });
    this.gunzip.end();
  }
}
