// `dray copy … oci-archive:- | head -c 10`: the reader goes away mid-archive.
// dray stops and exits quietly with SIGPIPE's status (141), as `yes | head`
// does, instead of "write EPIPE" or "already finalized or destroyed" (issue 19).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { before, describe, it } from "node:test";
import { buildIndex, writeOciLayout } from "../helpers/fixtures.js";
import { makeTempDir } from "../helpers/tmp.js";

const FROM_SOURCE = import.meta.url.endsWith(".ts");
const ENTRY = fileURLToPath(new URL(FROM_SOURCE ? "./dray-entry.ts" : "./dray-entry.js", import.meta.url));

/** Runs dray with stdout a pipe that the reader closes after its first chunk. */
function runAndCloseEarly(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [...(FROM_SOURCE ? ["--import", "tsx"] : []), ENTRY, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  const err: Buffer[] = [];
  child.stderr.on("data", (c: Buffer) => err.push(c));
  child.stdout.once("data", () => child.stdout.destroy());
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stderr: Buffer.concat(err).toString("utf8") })));
}

describe("a closed pipe on stdout", () => {
  let src: string;

  before(async () => {
    const dir = makeTempDir("dray-pipe-");
    src = join(dir, "src");
    await writeOciLayout(src, await buildIndex({ layerCount: 2, layerSize: 3_000_000, seed: "pipe" }), "v1");
  });

  for (const dest of ["oci-archive:-", "docker-archive:-"]) {
    it(`copy into ${dest} whose reader goes away exits 141 with nothing on stderr`, async () => {
      const r = await runAndCloseEarly(["copy", "-q", "--platform", "linux/amd64", `oci:${src}:v1`, dest]);
      assert.equal(r.code, 141, r.stderr);
      assert.equal(r.stderr, "");
    });
  }
});
