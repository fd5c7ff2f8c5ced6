import { createHash, type Hash } from "node:crypto";
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { IntegrityError, UsageError } from "../errors.js";
import { noteStreamedBytes } from "../memory.js";

export type DigestAlgorithm = "sha256" | "sha512";

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const DIGEST_RE = /^(sha256|sha512):([a-f0-9]+)$/;

/**
 * A content digest as the image spec defines it, restricted to the registered
 * algorithms dray can verify. Construction validates the grammar, so a Digest
 * is always safe to put into a URL path or a `blobs/ALG/HEX` file name.
 */
export class Digest {
  private constructor(
    readonly algorithm: DigestAlgorithm,
    readonly hex: string,
  ) {}

  /** Parses `sha256:<64 lowercase hex>` or `sha512:<128 lowercase hex>`; anything else throws E_DIGEST_INVALID. */
  static parse(text: string): Digest {
    const m = DIGEST_RE.exec(text);
    if (!m) throw new UsageError(`invalid digest ${quoted(text)}`, { code: "E_DIGEST_INVALID" });
    const algorithm = m[1] as DigestAlgorithm;
    const hex = m[2]!;
    if (hex.length !== HEX_LENGTH[algorithm]) {
      throw new UsageError(`invalid digest ${quoted(text)}: ${algorithm} needs ${HEX_LENGTH[algorithm]} hex digits`, {
        code: "E_DIGEST_INVALID",
      });
    }
    return new Digest(algorithm, hex);
  }

  /** Like parse, but returns undefined instead of throwing. */
  static tryParse(text: string): Digest | undefined {
    try {
      return Digest.parse(text);
    } catch {
      return undefined;
    }
  }

  static isValid(text: string): boolean {
    return Digest.tryParse(text) !== undefined;
  }

  /** The digest of bytes held in memory (manifests, configs). */
  static of(bytes: Uint8Array | string, algorithm: DigestAlgorithm = "sha256"): Digest {
    return new Digest(algorithm, createHash(algorithm).update(bytes).digest("hex"));
  }

  equals(other: Digest | string): boolean {
    return this.toString() === other.toString();
  }

  toString(): string {
    return `${this.algorithm}:${this.hex}`;
  }

  toJSON(): string {
    return this.toString();
  }

  /** `blobs/sha256/abc…` relative path, as the OCI layout names blobs. */
  get blobPath(): string {
    return `blobs/${this.algorithm}/${this.hex}`;
  }

  /** First 12 hex digits, for human-facing messages. */
  get short(): string {
    return this.hex.slice(0, 12);
  }
}

/** Untrusted text in a message: quoted, escaped (one line whatever it holds) and cut short. */
function quoted(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 77)}...` : s);
}

/** Incremental hashing of a stream of chunks. */
export class Digester {
  private readonly hash: Hash;
  private count = 0;

  constructor(readonly algorithm: DigestAlgorithm = "sha256") {
    this.hash = createHash(algorithm);
  }

  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.count += chunk.length;
  }

  get bytes(): number {
    return this.count;
  }

  digest(): Digest {
    return Digest.parse(`${this.algorithm}:${this.hash.digest("hex")}`);
  }
}

/** Passes bytes through, hashing and counting them (the digest of bytes made on the way: a recompressed or packed layer). */
export class Measure extends Transform {
  readonly digester = new Digester("sha256");

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.digester.update(chunk);
    done(null, chunk);
  }
}

export interface VerifyOptions {
  /** The digest the bytes must have. */
  digest: Digest;
  /** The exact size; more or fewer bytes fail. Omit when unknown. */
  size?: number;
  /** Named in error messages. */
  where?: string;
  /** Bytes already verified before this stream (resumed downloads feed the same hasher). */
  digester?: Digester;
  /** Told each chunk's size as it passes (progress), so a copy needs no separate counting stage. */
  onBytes?: (n: number) => void;
}

/**
 * A pass-through stream that hashes and counts what flows and fails the
 * pipeline on the first byte past the expected size, or at the end when the
 * size or digest differ. Use it inside `stream.pipeline` so a mismatch aborts
 * the write before anything is renamed into place.
 */
export class VerifyingStream extends Transform {
  readonly digester: Digester;

  constructor(private readonly expected: VerifyOptions) {
    super();
    this.digester = expected.digester ?? new Digester(expected.digest.algorithm);
  }

  get bytesSeen(): number {
    return this.digester.bytes;
  }

  /** Whether this stream already enforces `expected` (same digest, same size or both unknown). */
  enforces(expected: Pick<VerifyOptions, "digest" | "size">): boolean {
    return this.expected.digest.equals(expected.digest) && this.expected.size === expected.size && this.expected.digester === undefined;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const { size } = this.expected;
    if (size !== undefined && this.digester.bytes + chunk.length > size) {
      done(sizeMismatch(this.expected, `more than ${size} bytes`));
      return;
    }
    this.digester.update(chunk);
    this.expected.onBytes?.(chunk.length);
    noteStreamedBytes(chunk.length);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    const { size, digest } = this.expected;
    if (size !== undefined && this.digester.bytes !== size) {
      done(sizeMismatch(this.expected, `${this.digester.bytes} bytes, expected ${size}`));
      return;
    }
    const actual = this.digester.digest();
    if (!actual.equals(digest)) {
      done(
        new IntegrityError(`digest mismatch${at(this.expected)}: expected ${digest}, got ${actual}`, {
          code: "E_DIGEST_MISMATCH",
          where: this.expected.where,
        }),
      );
      return;
    }
    done();
  }
}

/**
 * The stages that verify `data` on its way to a sink: `data` alone when it is
 * itself a VerifyingStream enforcing the same digest and size (it errors
 * before it ends, so the sink never completes on wrong bytes), else `data`
 * and a new verifier. Hashing once instead of twice is most of the CPU a
 * local copy spends on its bytes.
 */
export function verifiedStages(
  data: Readable,
  expected: VerifyOptions,
): { stages: [Readable] | [Readable, VerifyingStream]; verifier: VerifyingStream } {
  if (data instanceof VerifyingStream && data.enforces(expected)) return { stages: [data], verifier: data };
  const verifier = new VerifyingStream(expected);
  return { stages: [data, verifier], verifier };
}

function sizeMismatch(expected: VerifyOptions, what: string): IntegrityError {
  return new IntegrityError(`size mismatch${at(expected)} for ${expected.digest}: ${what}`, {
    code: "E_SIZE_MISMATCH",
    where: expected.where,
  });
}

function at(expected: VerifyOptions): string {
  return expected.where ? ` at ${expected.where}` : "";
}

/** Checks bytes held in memory against a digest (and size when given). */
export function verifyBytes(bytes: Uint8Array, expected: VerifyOptions): void {
  if (expected.size !== undefined && bytes.length !== expected.size) {
    throw sizeMismatch(expected, `${bytes.length} bytes, expected ${expected.size}`);
  }
  const actual = Digest.of(bytes, expected.digest.algorithm);
  if (!actual.equals(expected.digest)) {
    throw new IntegrityError(`digest mismatch${at(expected)}: expected ${expected.digest}, got ${actual}`, {
      code: "E_DIGEST_MISMATCH",
      where: expected.where,
    });
  }
}
