import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import type { CliContext } from "../../src/cli/context.js";
import { createProgress, formatBytes } from "../../src/cli/progress.js";

function ctx(): CliContext & { text(): string } {
  let out = "";
  const stderr = new Writable({
    write: (c: Buffer, _e, cb) => {
      out += c.toString();
      cb();
    },
  });
  return {
    stdout: stderr,
    stderr,
    signal: new AbortController().signal,
    color: false,
    debug: false,
    message: () => undefined,
    text: () => out,
  };
}

const D = `sha256:${"ab".repeat(32)}`;

describe("progress renderers", () => {
  it("formatBytes uses decimal units", () => {
    assert.equal(formatBytes(999), "999 B");
    assert.equal(formatBytes(1000), "1.0 kB");
    assert.equal(formatBytes(12_345_678), "12.3 MB");
    assert.equal(formatBytes(500_000_000), "500 MB");
    assert.equal(formatBytes(2_500_000_000_000), "2.5 TB");
  });

  it("json coalesces byte counts per blob and flushes them before blob-done", async () => {
    const c = ctx();
    const p = await createProgress("json", c, false, { bytesIntervalMs: 60_000 });
    p.onEvent({ type: "blob-start", digest: D, size: 300, mediaType: "x" });
    for (let i = 0; i < 3; i++) p.onEvent({ type: "blob-bytes", digest: D, n: 100 });
    p.onEvent({ type: "blob-done", digest: D, size: 300, outcome: "copied" });
    p.stop();
    const events = c
      .text()
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      events.map((e) => [e.type, e.n, e.bytes]),
      [
        ["blob-start", undefined, undefined],
        ["blob-bytes", 100, 100],
        ["blob-bytes", 200, 300],
        ["blob-done", undefined, undefined],
      ],
    );
  });

  it("plain prints a line per finished blob and a periodic total while bytes move", async () => {
    const c = ctx();
    const p = await createProgress("plain", c, false, { intervalMs: 20 });
    p.onEvent({ type: "plan", images: 1, manifests: 1, blobs: 2, bytes: 3000 });
    p.onEvent({ type: "blob-start", digest: D, size: 2000, mediaType: "x" });
    p.onEvent({ type: "blob-bytes", digest: D, n: 1500 });
    await new Promise((r) => setTimeout(r, 60));
    p.onEvent({ type: "blob-done", digest: D, size: 2000, outcome: "skipped" });
    p.stop();
    const text = c.text();
    assert.match(text, /^copying 2 blobs \(3\.0 kB\) and 1 manifest$/m);
    assert.match(text, /^progress: 0\/2 blobs, 1\.5 kB of 3\.0 kB, .*\/s$/m);
    assert.equal(text.match(/^progress:/gm)?.length, 1, "no repeated total while nothing moves");
    assert.match(text, /^skipped blob sha256:abababababab \(2\.0 kB\)$/m);
  });

  it("quiet and none print nothing", async () => {
    for (const [mode, quiet] of [
      ["bar", true],
      ["none", false],
    ] as const) {
      const c = ctx();
      const p = await createProgress(mode, c, quiet);
      p.onEvent({ type: "notice", message: "x" });
      p.stop();
      assert.equal(c.text(), "");
    }
  });
});
