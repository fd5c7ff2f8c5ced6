// Output order is the same on every run, whatever order the work finished in
// (issue 27, item 14): a sync's dry-run plan, `copy --all-tags` lines and the
// RepoTags of a docker-archive, with the first tag held back at a fault proxy
// in front of the real registry so it finishes last.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { dray, drayOk } from "../cli/run.js";
import { buildImage, pushImage, writeOciLayout, type BuiltImage } from "../helpers/fixtures.js";
import { startProxy, type FaultProxy } from "../helpers/proxy.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";

describe("sorted output whatever the completion order", () => {
  let reg: RegistryHandle;
  let proxy: FaultProxy;
  let one: BuiltImage;
  let two: BuiltImage;
  let dir: string;

  before(async () => {
    reg = await startRegistry();
    proxy = await startProxy(reg);
    one = await buildImage({ seed: "order-one" });
    two = await buildImage({ seed: "order-two" });
    for (const [tag, img] of [
      ["a", one],
      ["b", one],
      ["c", two],
    ] as const)
      await pushImage({ url: reg.url }, "app", tag, img);
    dir = makeTempDir("dray-order-");
    // Tag "a" answers last, so it finishes last.
    proxy.addRule({ path: /\/manifests\/a$/, action: { kind: "stall", ms: 1500 } });
  });

  it("sync --dry-run prints its plan sorted", async () => {
    const r = await dray(["sync", `${proxy.host}/app`, `oci:${join(dir, "plan")}`, "--dry-run"]);
    assert.equal(r.code, 0, r.stderr);
    const copies = r.stdout.split("\n").filter((l) => l.startsWith("copy "));
    assert.deepEqual(
      copies.map((l) => l.split(" ")[1]),
      ["a", "b", "c"].map((t) => `docker://${proxy.host}/app:${t}`),
    );
  });

  it("copy --all-tags into a docker-archive: RepoTags sorted; lines sorted from a layout listing tags out of order", async () => {
    const file = join(dir, "all.tar");
    await drayOk(["copy", "--all-tags", `docker://${proxy.host}/app`, `docker-archive:${file}:example.com/app`]);
    const manifest = JSON.parse(execFileSync("tar", ["-xOf", file, "manifest.json"]).toString()) as Array<{ RepoTags: string[] }>;
    assert.deepEqual(
      manifest.map((m) => m.RepoTags),
      [["example.com/app:a", "example.com/app:b"], ["example.com/app:c"]],
    );
    const layout = join(dir, "layout");
    await writeOciLayout(layout, two, "z");
    await writeOciLayout(layout, one, "m");
    await writeOciLayout(layout, two, "b");
    const lines = await drayOk(["copy", "--all-tags", `oci:${layout}`, `oci:${join(dir, "copy")}`]);
    assert.deepEqual(
      lines.stdout
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split(" ")[0]),
      ["b", "m", "z"],
    );
  });
});
