// The bundle's lazy built-ins (src/cli/startup/bundle-plugin.mts) find every
// export at run time, not only those the building Node had: a bundle built on
// Node 20 (39 node:zlib exports) run on Node 24 (47, createZstdDecompress
// among them) must see zstd (issue 27 item 17). Simulated with a build that
// knew one export of node:zlib, bundled by esbuild as scripts/bundle.mjs does.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { build, type Plugin } from "esbuild";
import { lazyBuiltinSource } from "../../../src/cli/startup/bundle-plugin.mjs";
import { makeTempDir } from "../../helpers/tmp.js";

/** node:zlib as a build on an older Node would make it: only `createGunzip` known. */
const olderNodeZlib: Plugin = {
  name: "older-node-zlib",
  setup(b) {
    b.onResolve({ filter: /^node:zlib$/ }, (args) =>
      args.namespace === "lazy" ? { path: "node:zlib", external: true } : { path: "zlib", namespace: "lazy" },
    );
    b.onLoad({ filter: /.*/, namespace: "lazy" }, () => ({ contents: lazyBuiltinSource("zlib", ["createGunzip"]), loader: "js" }));
  },
};

describe("lazy built-ins of the CLI bundle", () => {
  it("an export the building Node lacked is looked up at run time, and nothing loads before the first use", async () => {
    const dir = makeTempDir("dray-lazy-builtins-");
    const entry = join(dir, "entry.mjs");
    writeFileSync(
      entry,
      [
        'import * as zlib from "node:zlib";',
        'const loadedFirst = process.moduleLoadList.includes("NativeModule zlib");',
        "const seen = { loadedFirst, gunzip: typeof zlib.createGunzip, crc32: typeof zlib.crc32, deflateSync: typeof zlib.deflateSync };",
        "seen.same = zlib.crc32 === process.getBuiltinModule('node:zlib').crc32;",
        "console.log(JSON.stringify(seen));",
      ].join("\n"),
    );
    const out = join(dir, "bundle.cjs");
    await build({
      entryPoints: [entry],
      outfile: out,
      bundle: true,
      platform: "node",
      format: "cjs",
      target: "node20",
      plugins: [olderNodeZlib],
    });
    const r = spawnSync(process.execPath, [out], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      loadedFirst: false,
      gunzip: "function",
      crc32: "function",
      deflateSync: "function",
      same: true,
    });
  });
});
