// The CLI's collector for dead socket buffers: gc() found only when V8
// exposes it, as launch.cts does at run time.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { exposedScavenge } from "../../../src/cli/startup/scavenge.js";

describe("the start-up scavenger", () => {
  it("finds gc() only when V8 exposes it, set at run time as launch.cts does", () => {
    assert.equal(typeof exposedScavenge(), process.execArgv.includes("--expose-gc") ? "function" : "undefined");
    const memory = fileURLToPath(
      new URL(
        import.meta.url.endsWith(".ts") ? "../../../src/cli/startup/scavenge.ts" : "../../../src/cli/startup/scavenge.js",
        import.meta.url,
      ),
    );
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
