// A sync into an oci-archive, or an oci: layout, where one image fails while
// another is still being written: the failed image's blobs that had already
// arrived are no part of the result (its writer leaves them, since a writer
// still running might use them; the pack must not take them, they would ride
// along in the archive for good, and the layout sweeps them once its
// repository is done). The failing layer
// is stalled by the tests' fault proxy and then arrives corrupted (its
// bytes changed in the registry's storage), so the image's other layer is
// surely stored first; the good image is stalled longer, so its writer is
// live when the failed one ends.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { buildImage, pushImage, type BuiltImage } from "../helpers/fixtures.js";
import { startProxy, type FaultProxy } from "../helpers/proxy.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";
import { dray } from "../cli/run.js";
import { isolateCredentials } from "../transport/registry/support.js";

describe("dray sync into oci-archive and oci:: an image that fails beside one that is copied", () => {
  let reg: RegistryHandle;
  let proxy: FaultProxy;
  let dir: string;
  let good: BuiltImage;
  let bad: BuiltImage;

  before(async () => {
    requireTool("docker-registry");
    isolateCredentials();
    dir = makeTempDir("dray-archive-failed-");
    reg = await startRegistry();
    proxy = await startProxy(reg);
    good = await buildImage({ seed: "archive-failed-good" });
    bad = await buildImage({ seed: "archive-failed-bad", layerCount: 2 });
    await pushImage(reg, "team/app", "good", good);
    await pushImage(reg, "team/app", "bad", bad);
    const broken = bad.layers[1]!.digest.toString().slice("sha256:".length);
    writeFileSync(join(reg.storageDir, "docker/registry/v2/blobs/sha256", broken.slice(0, 2), broken, "data"), "not the layer");
    proxy.addRule({ method: "GET", path: bad.layers[1]!.digest.toString(), action: { kind: "stall", ms: 1000 } });
    proxy.addRule({ method: "GET", path: good.layers[0]!.digest.toString(), action: { kind: "stall", ms: 3000 } });
  });
  after(async () => {
    await proxy.stop();
  });

  it("packs the good image and none of the failed image's blobs", async () => {
    const file = join(dir, "mirror.tar");
    const r = await dray(["sync", "--retries", "0", `docker://${proxy.host}/team/app`, `oci-archive:${file}`]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /failed: docker:\/\/\S+\/team\/app:bad: /);
    assert.ok(proxy.count("GET", bad.layers[0]!.digest.toString()) >= 1, "the failed image's first layer was fetched");
    const names = execFileSync("tar", ["-tf", file], { encoding: "utf8" }).trim().split("\n");
    for (const b of [good.config, ...good.layers]) assert.ok(names.includes(b.digest.blobPath), `good image's ${b.digest} packed`);
    const strays = [bad.config, ...bad.layers].filter((b) => names.includes(b.digest.blobPath)).map((b) => b.digest.toString());
    assert.deepEqual(strays, [], "no blob of the failed image is in the archive");
  });

  it("leaves none of the failed image's blobs in the layout", async () => {
    const layout = join(dir, "layout");
    const r = await dray(["sync", "--retries", "0", `docker://${proxy.host}/team/app`, `oci:${layout}`]);
    assert.equal(r.code, 1, r.stderr);
    const stored = readdirSync(join(layout, "blobs", "sha256")).map((hex) => `sha256:${hex}`);
    for (const b of [good.config, ...good.layers]) assert.ok(stored.includes(b.digest.toString()), `good image's ${b.digest} stored`);
    const strays = [bad.config, ...bad.layers].map((b) => b.digest.toString()).filter((d) => stored.includes(d));
    assert.deepEqual(strays, [], "no blob of the failed image is in the layout");
  });
});
