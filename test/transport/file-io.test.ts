// FileSink: what it writes is exactly what it was given, whatever the chunking;
// it never writes over an existing file; destroyed half-way it closes its file.
import assert from "node:assert/strict";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, it } from "node:test";
import { FileSink, remainder } from "../../src/transport/file-io.js";
import { seededBytes } from "../helpers/fixtures.js";
import { makeTempDir } from "../helpers/tmp.js";

function chunked(bytes: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length]!;
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

async function openFds(): Promise<number> {
  return (await readdir("/proc/self/fd")).length;
}

describe("FileSink", () => {
  it("writes the bytes it is given, for small, batch-sized and odd chunks", async () => {
    const dir = makeTempDir();
    const bytes = seededBytes("file-sink", 3 * 1024 * 1024 + 12345);
    for (const [i, sizes] of [[1], [65536], [1024 * 1024], [4 * 1024 * 1024], [7, 65535, 300_001, 1]].entries()) {
      const path = join(dir, `out-${i}`);
      const chunks = sizes[0] === 1 ? chunked(bytes.subarray(0, 5000), sizes) : chunked(bytes, sizes);
      await pipeline(Readable.from(chunks), new FileSink(path));
      assert.deepEqual(await readFile(path), Buffer.concat(chunks), `chunks of ${sizes.join(",")}`);
    }
    const empty = join(dir, "empty");
    await pipeline(Readable.from([]), new FileSink(empty));
    assert.equal((await readFile(empty)).length, 0);
  });

  it("never writes over an existing file", async () => {
    const path = join(makeTempDir(), "taken");
    await writeFile(path, "mine");
    await assert.rejects(pipeline(Readable.from([Buffer.from("theirs")]), new FileSink(path)), /EEXIST/);
    assert.equal(await readFile(path, "utf8"), "mine");
  });

  it("closes its file when the stream before it fails half-way", async () => {
    const path = join(makeTempDir(), "partial");
    const before = await openFds();
    const failing = new Readable({
      read() {
        this.push(seededBytes("partial", 200_000));
        this.destroy(new Error("connection reset"));
      },
    });
    const sink = new FileSink(path);
    const closed = new Promise((resolve) => sink.once("close", resolve));
    await assert.rejects(pipeline(failing, sink), /connection reset/);
    await closed;
    assert.equal(await openFds(), before);
  });

  it("continues a short writev from where it stopped", () => {
    const a = Buffer.from("abc");
    const b = Buffer.from("defg");
    assert.deepEqual(remainder([a, b], 0).map(String), ["abc", "defg"]);
    assert.deepEqual(remainder([a, b], 2).map(String), ["c", "defg"]);
    assert.deepEqual(remainder([a, b], 3).map(String), ["defg"]);
    assert.deepEqual(remainder([a, b], 5).map(String), ["fg"]);
  });
});
