// Two dray processes committing into one layout at the same time: every
// image of both must land (the index.json lock and re-read at commit).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { OciLayout, openLayoutReferences, reachableBlobs } from "../../../src/transport/layout/index.js";
import { skopeoInspectRaw } from "../../helpers/skopeo.js";
import { makeTempDir } from "../../helpers/tmp.js";
import { Digest } from "../../../src/oci/digest.js";
import { readIndexJson } from "./util.js";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { readdir } from "node:fs/promises";

/** Runs writer-child with the same loader as this file (tsx for .ts, plain node for compiled .js). */
function runWriter(dir: string, prefix: string, rounds: number, ...more: string[]): Promise<Record<string, string>> {
  const isTs = import.meta.url.endsWith(".ts");
  const script = fileURLToPath(new URL(`./writer-child.${isTs ? "ts" : "js"}`, import.meta.url));
  const args = isTs ? ["--import", "tsx", script] : [script];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [...args, dir, prefix, String(rounds), ...more], { timeout: 120_000 }, (err, stdout, stderr) => {
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

  it("a writer that fails beside one that commits the same blobs never takes one the other needs (issue 19)", async () => {
    // Both write the images of seeds shared-0 … shared-15: every blob of one is a blob of the other. The
    // failing one creates the folder as often as not and aborts every round, cleaning up as it goes.
    const dir = join(makeTempDir(), "fresh");
    const rounds = 16;
    const [ok] = await Promise.all([runWriter(dir, "ok", rounds, "shared"), runWriter(dir, "bad", rounds, "shared", "fail")]);
    const idx = await readIndexJson(dir);
    const got: Record<string, string> = {};
    for (const m of idx.manifests) got[m.annotations?.["org.opencontainers.image.ref.name"] ?? "?"] = m.digest;
    assert.deepEqual(got, ok, "every committed image is named, none of the failed writer's");
    for (const tag of Object.keys(ok)) assert.equal(Digest.of(await skopeoInspectRaw(`oci:${dir}:${tag}`)).toString(), ok[tag]);
    const layout = await OciLayout.open(dir);
    for (const d of await reachableBlobs(layout, await layout.readIndex()))
      assert.ok(existsSync(join(dir, Digest.parse(d).blobPath)), `${d}, which index.json reaches, is there`);
    const leftovers = (await readdir(dir)).filter((n) => n.startsWith(".dray-"));
    assert.deepEqual(leftovers, [], "no lock, marker or temporary left");
    assert.ok(existsSync(join(dir, "oci-layout")));
  });
});
