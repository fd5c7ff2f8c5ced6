import assert from "node:assert/strict";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, it } from "node:test";
import { Digest, Digester, VerifyingStream, verifiedStages, verifyBytes } from "../../src/oci/digest.js";
import { isDrayError } from "../../src/errors.js";

const EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

describe("Digest", () => {
  it("parses and prints the sha256 of nothing", () => {
    const d = Digest.parse(EMPTY_SHA256);
    assert.equal(d.algorithm, "sha256");
    assert.equal(d.toString(), EMPTY_SHA256);
    assert.equal(d.blobPath, `blobs/sha256/${EMPTY_SHA256.slice(7)}`);
    assert.ok(Digest.of("").equals(d));
  });

  it("accepts sha512", () => {
    const d = Digest.of("abc", "sha512");
    assert.equal(Digest.parse(d.toString()).hex.length, 128);
  });

  for (const bad of [
    "sha256:../../x",
    "sha256:" + "A".repeat(64),
    "sha256:" + "a".repeat(63),
    "sha256:" + "a".repeat(65),
    "sha512:" + "a".repeat(64),
    "md5:" + "a".repeat(32),
    "SHA256:" + "a".repeat(64),
    "sha256" + "a".repeat(64),
    "",
    "sha256:",
    "sha256:" + "a".repeat(63) + "/",
    "sha256:" + "a".repeat(64) + "\n",
  ]) {
    it(`rejects ${JSON.stringify(bad.slice(0, 30))}`, () => {
      assert.throws(
        () => Digest.parse(bad),
        (e: unknown) => isDrayError(e, "E_DIGEST_INVALID"),
      );
    });
  }

  it("keeps hostile input out of the message: one short line", () => {
    assert.throws(
      () => Digest.parse(`sha256:\n${"x".repeat(10_000)}`),
      (e: unknown) => isDrayError(e, "E_DIGEST_INVALID") && !e.message.includes("\n") && e.message.length < 200,
    );
  });
});

describe("Digester and verifyBytes", () => {
  const body = Buffer.from("a body fed in pieces");

  it("hashes chunks to the digest of the whole and counts bytes", () => {
    for (const algorithm of ["sha256", "sha512"] as const) {
      const d = new Digester(algorithm);
      for (let i = 0; i < body.length; i += 3) d.update(body.subarray(i, i + 3));
      assert.equal(d.bytes, body.length);
      assert.ok(d.digest().equals(Digest.of(body, algorithm)));
    }
  });

  it("verifyBytes passes matching bytes and refuses a wrong size or digest", () => {
    const digest = Digest.of(body);
    verifyBytes(body, { digest, size: body.length });
    verifyBytes(body, { digest });
    assert.throws(
      () => verifyBytes(body, { digest, size: body.length + 1 }),
      (e: unknown) => isDrayError(e, "E_SIZE_MISMATCH"),
    );
    assert.throws(
      () => verifyBytes(body.subarray(1), { digest }),
      (e: unknown) => isDrayError(e, "E_DIGEST_MISMATCH"),
    );
    assert.throws(
      () => verifyBytes(body, { digest: Digest.of("other"), where: "docker://localhost:5000/x" }),
      (e: unknown) => isDrayError(e, "E_DIGEST_MISMATCH") && e.where === "docker://localhost:5000/x",
    );
  });
});

describe("VerifyingStream, resumed and sha512", () => {
  const body = Buffer.from("first half|second half");
  it("continues a digester fed with bytes already on disk", async () => {
    const digest = Digest.of(body);
    const digester = new Digester();
    digester.update(body.subarray(0, 11));
    const stream = new VerifyingStream({ digest, size: body.length, digester });
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    await pipeline(Readable.from([body.subarray(11)]), stream, sink);
    assert.equal(stream.bytesSeen, body.length);
  });
  it("verifies sha512 content", async () => {
    await run([body], Digest.of(body, "sha512"), body.length);
    await assert.rejects(run([body], Digest.of("x", "sha512")), (e: unknown) => isDrayError(e, "E_DIGEST_MISMATCH"));
  });
});

async function run(data: Buffer[], digest: Digest, size?: number): Promise<void> {
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const opts = size === undefined ? { digest } : { digest, size };
  await pipeline(Readable.from(data), new VerifyingStream(opts), sink);
}

describe("VerifyingStream", () => {
  const body = Buffer.from("hello, layer");
  const digest = Digest.of(body);

  it("passes matching content", async () => {
    await run([body.subarray(0, 3), body.subarray(3)], digest, body.length);
  });
  it("fails on a digest mismatch", async () => {
    await assert.rejects(run([Buffer.from("hello, lAyer")], digest, body.length), (e: unknown) => isDrayError(e, "E_DIGEST_MISMATCH"));
  });
  it("fails on a longer body before it ends", async () => {
    await assert.rejects(run([body, Buffer.from("x")], digest, body.length), (e: unknown) => isDrayError(e, "E_SIZE_MISMATCH"));
  });
  it("fails on a shorter body", async () => {
    await assert.rejects(run([body.subarray(1)], digest, body.length), (e: unknown) => isDrayError(e, "E_SIZE_MISMATCH"));
  });
  it("tells onBytes each chunk it passes on, and not the chunk that overflows the size", async () => {
    const seen: number[] = [];
    const sink = (): Writable => new Writable({ write: (_c, _e, cb) => cb() });
    const stream = new VerifyingStream({ digest, size: body.length, onBytes: (n) => seen.push(n) });
    await pipeline(Readable.from([body.subarray(0, 5), body.subarray(5)]), stream, sink());
    assert.deepEqual(seen, [5, body.length - 5]);
    seen.length = 0;
    const over = new VerifyingStream({ digest, size: body.length, onBytes: (n) => seen.push(n) });
    await assert.rejects(pipeline(Readable.from([body, Buffer.from("x")]), over, sink()), (e: unknown) =>
      isDrayError(e, "E_SIZE_MISMATCH"),
    );
    assert.deepEqual(seen, [body.length]);
  });
});

describe("verifiedStages", () => {
  const body = Buffer.from("hello, layer");
  const digest = Digest.of(body);

  it("reuses a verifier that enforces the same digest and size, and adds one otherwise", () => {
    const same = new VerifyingStream({ digest, size: body.length });
    assert.deepEqual(verifiedStages(same, { digest, size: body.length }).stages, [same]);
    const noSize = new VerifyingStream({ digest });
    assert.equal(verifiedStages(noSize, { digest, size: body.length }).stages.length, 2, "a verifier without the size does not check it");
    const other = new VerifyingStream({ digest: Digest.of("other"), size: body.length });
    assert.equal(verifiedStages(other, { digest, size: body.length }).stages.length, 2);
    const plain = Readable.from([body]);
    const { stages, verifier } = verifiedStages(plain, { digest, size: body.length });
    assert.deepEqual(stages, [plain, verifier]);
  });
});
