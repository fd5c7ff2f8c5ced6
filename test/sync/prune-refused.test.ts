// --prune against a registry with deletes disabled (the real distribution
// registry without storage.delete.enabled): found out before any tag moves, so
// a nightly job does not leave one more placeholder manifest per stale tag per
// run (issue 27, item 4).
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { dray } from "../cli/run.js";
import { buildImage, pushImage } from "../helpers/fixtures.js";
import { startProxy, type FaultProxy } from "../helpers/proxy.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { fetchManifest } from "./artifacts.js";

describe("--prune where the registry refuses deletes", () => {
  let regA: RegistryHandle;
  let regB: RegistryHandle;
  let b: FaultProxy;

  /** Manifests the destination repository has ever stored (distribution keeps a revision link per manifest). */
  const revisions = async (): Promise<number> =>
    (await readdir(join(regB.storageDir, "docker/registry/v2/repositories/app/_manifests/revisions/sha256"))).length;

  before(async () => {
    [regA, regB] = await Promise.all([startRegistry(), startRegistry()]);
    b = await startProxy(regB);
    const kept = await buildImage({ seed: "prune-refused-kept" });
    await pushImage({ url: regA.url }, "app", "v1", kept);
    await pushImage({ url: regB.url }, "app", "v1", kept);
    await pushImage({ url: regB.url }, "app", "stale", await buildImage({ seed: "prune-refused-stale" }));
  });

  it("every run fails the prune (exit 1) without moving the tag or pushing a manifest", async () => {
    const stale = await fetchManifest(regB, "app", "stale");
    const before = await revisions();
    for (let i = 0; i < 2; i++) {
      const from = b.log.length;
      const r = await dray(["sync", `${regA.host}/app`, `${b.host}/app`, "--prune"]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^FAILED {6}prune docker:\/\/\S+\/app:stale: tag left in place: .*does not allow deleting/m);
      const puts = b.log.slice(from).filter((e) => e.method === "PUT" && e.path.includes("/manifests/"));
      assert.deepEqual(puts, [], "no manifest PUT: the tag never moved");
    }
    assert.equal(await revisions(), before, "no placeholder manifest left behind");
    assert.ok((await fetchManifest(regB, "app", "stale"))?.equals(stale!), "stale still names its image");
  });
});
