// Issue 27 item 28: a sync into an `oci:` folder that fails takes back what
// it created, as copy does: a new layout folder (and the parents the run
// made) is gone, an existing layout is left exactly as it was. The source
// fails through the tests' fault proxy (every blob GET answers 500).
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { after, before, describe, it } from "node:test";
import { buildImage, pushImage, writeOciLayout } from "../helpers/fixtures.js";
import { startProxy, type FaultProxy } from "../helpers/proxy.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";
import { dray } from "../cli/run.js";
import { isolateCredentials } from "../transport/registry/support.js";

/** Every file below `dir` with its bytes, to compare a folder before and after. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p).toString("base64"));
    }
  };
  walk(dir);
  return out;
}

describe("dray sync: a failed run into an oci: folder", () => {
  let reg: RegistryHandle;
  let proxy: FaultProxy;
  let dir: string;

  before(async () => {
    requireTool("docker-registry");
    isolateCredentials();
    dir = makeTempDir("dray-sync-failed-layout-");
    reg = await startRegistry();
    proxy = await startProxy(reg);
    await pushImage(reg, "team/app", "1.0", await buildImage({ seed: "failed-layout-app" }));
    proxy.addRule({ method: "GET", path: "/blobs/", action: { kind: "status", status: 500 } });
  });
  after(async () => {
    await proxy.stop();
  });

  it("removes the new layout folder and the parents it made", async () => {
    const target = join(dir, "usb", "mirror", "team", "app");
    const r = await dray(["sync", "--retries", "0", `docker://${proxy.host}/team/app`, `oci:${target}`]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /failed/);
    assert.ok(!existsSync(join(dir, "usb")), `left behind: ${existsSync(target) ? readdirSync(target).join(", ") : "parents"}`);
  });

  it("leaves an existing layout exactly as it was", async () => {
    const target = join(dir, "kept");
    await writeOciLayout(target, await buildImage({ seed: "failed-layout-kept" }), "old");
    const before = snapshot(target);
    const r = await dray(["sync", "--retries", "0", `docker://${proxy.host}/team/app`, `oci:${target}`]);
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(snapshot(target), before);
  });

  it("leaves an existing empty folder as it was", async () => {
    const target = join(dir, "empty");
    await import("node:fs/promises").then((fs) => fs.mkdir(target));
    const r = await dray(["sync", "--retries", "0", `docker://${proxy.host}/team/app`, `oci:${target}`]);
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(readdirSync(target), []);
  });
});
