// The hook behind the CLI's bound on dead socket buffers: a collection after
// every 8 MiB a blob stream passes on, only when a collector is installed.
// (The collector itself: test/cli/startup/scavenge.test.ts.)
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Digest, VerifyingStream } from "../src/oci/digest.js";
import { noteStreamedBytes, reclaimBuffersWith } from "../src/memory.js";

const MiB = 1024 * 1024;

describe("reclaiming streamed buffers", () => {
  afterEach(() => reclaimBuffersWith(undefined));

  it("collects once per 8 MiB noted, and never without a collector", () => {
    let calls = 0;
    noteStreamedBytes(64 * MiB);
    reclaimBuffersWith(() => calls++);
    for (let i = 0; i < 127; i++) noteStreamedBytes(64 * 1024);
    assert.equal(calls, 0, "7.9 MiB: not yet");
    noteStreamedBytes(64 * 1024);
    assert.equal(calls, 1);
    for (let i = 0; i < 4; i++) noteStreamedBytes(4 * MiB);
    assert.equal(calls, 3);
    reclaimBuffersWith(undefined);
    noteStreamedBytes(64 * MiB);
    assert.equal(calls, 3);
  });

  it("is told every byte a VerifyingStream passes on", async () => {
    let calls = 0;
    reclaimBuffersWith(() => calls++);
    const body = Buffer.alloc(17 * MiB, 7);
    const chunks = Array.from({ length: 17 }, (_, i) => body.subarray(i * MiB, (i + 1) * MiB));
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    await pipeline(Readable.from(chunks), new VerifyingStream({ digest: Digest.of(body), size: body.length }), sink);
    assert.equal(calls, 2);
  });
});
