// The CLI's bound on dead socket buffers: a scavenge after every 8 MiB a blob
// stream passes on, only when a collector is installed, and gc() found only
// when V8 exposes it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, it } from "node:test";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Digest, VerifyingStream } from "../src/oci/digest.js";
import { exposedScavenge, noteStreamedBytes, reclaimBuffersWith } from "../src/memory.js";

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

  it("finds gc() only when V8 exposes it, set at run time as bin/dray.cjs does", () => {
    assert.equal(typeof exposedScavenge(), process.execArgv.includes("--expose-gc") ? "function" : "undefined");
    const memory = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "../src/memory.ts" : "../src/memory.js", import.meta.url));
    const script = `
      require("node:v8").setFlagsFromString("--expose-gc");
      import(${JSON.stringify(memory)}).then(({ exposedScavenge }) => {
        const scavenge = exposedScavenge();
        scavenge();
        console.log(typeof scavenge, typeof globalThis.gc);
      });`;
    const args = import.meta.url.endsWith(".ts") ? ["--import", "tsx", "-e", script] : ["-e", script];
    const r = spawnSync(process.execPath, args, { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    // A scavenger is found and runs; the main context's globals are not changed.
    assert.equal(r.stdout.trim(), "function undefined");
  });
});

