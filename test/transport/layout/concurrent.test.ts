// Two dray processes committing into one layout at the same time: every
// image of both must land (the index.json lock and re-read at commit).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { openLayoutReferences } from "../../../src/transport/layout/index.js";
import { skopeoInspectRaw } from "../../helpers/skopeo.js";
import { makeTempDir } from "../../helpers/tmp.js";
import { Digest } from "../../../src/oci/digest.js";
import { readIndexJson } from "./util.js";

/** Runs writer-child with the same loader as this file (tsx for .ts, plain node for compiled .js). */
function runWriter(dir: string, prefix: string, rounds: number): Promise<Record<string, string>> {
  const isTs = import.meta.url.endsWith(".ts");
  const script = fileURLToPath(new URL(`./writer-child.${isTs ? "ts" : "js"}`, import.meta.url));
  const args = isTs ? ["--import", "tsx", script] : [script];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...args, dir, prefix, String(rounds)], { timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`writer ${prefix} failed: ${stderr || err.message}`));
      else resolve(JSON.parse(stdout) as Record<string, string>);
    });
  });
}

describe("concurrent layout writers", () => {
  it("two processes writing into one layout at once both land, every tag once", async () => {
    const dir = makeTempDir();
    const rounds = 16;
    const [a, b] = await Promise.all([runWriter(dir, "alpha", rounds), runWriter(dir, "beta", rounds)]);
    const expected = { ...a, ...b };
    assert.equal(Object.keys(expected).length, 2 * rounds);
    const idx = await readIndexJson(dir);
    const got: Record<string, string> = {};
    for (const m of idx.manifests) got[m.annotations?.["org.opencontainers.image.ref.name"] ?? "?"] = m.digest;
    assert.deepEqual(got, expected);
    assert.equal(idx.manifests.length, 2 * rounds);
    assert.deepEqual(
      (await (await openLayoutReferences({ transport: "oci", path: dir }, {})).listTags()).sort(),
      Object.keys(expected).sort(),
    );
    // Spot-check with skopeo that the layout is sound.
    const raw = await skopeoInspectRaw(`oci:${dir}:beta-${rounds - 1}`);
    assert.equal(Digest.of(raw).toString(), b[`beta-${rounds - 1}`]);
  });
});
