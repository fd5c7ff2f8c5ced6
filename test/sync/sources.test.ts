// What sync does with a source that holds nothing: a missing archive, an empty
// folder, a registry without repositories are "not found" (exit 3), as `dray ls`
// of them is, never "Synced 0 repositories" with exit 0 (issue 27, item 1).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { dray } from "../cli/run.js";
import { buildImage, writeOciLayout } from "../helpers/fixtures.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";

describe("sync of a missing or empty source", () => {
  let reg: RegistryHandle;
  let dir: string;
  before(async () => {
    reg = await startRegistry();
    dir = makeTempDir("dray-sync-sources-");
  });

  it("a missing oci-archive is exit 3 naming it, and nothing is created at the destination", async () => {
    const missing = join(dir, "missing.tar");
    const out = join(dir, "out-a");
    const r = await dray(["sync", `oci-archive:${missing}`, `oci:${out}`]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, new RegExp(`dray: oci-archive:${missing} does not exist\\n$`));
    assert.ok(!existsSync(out));
    assert.equal((await dray(["ls", `oci-archive:${missing}`])).code, 3, "ls says the same");
  });

  it("an empty folder of layouts and a registry without repositories are exit 3", async () => {
    const empty = join(dir, "empty");
    await mkdir(empty);
    const a = await dray(["sync", `oci:${empty}`, `oci:${join(dir, "out-b")}`]);
    assert.equal(a.code, 3, a.stderr);
    assert.match(a.stderr, /dray: oci:\S+empty holds no repositories\n$/);
    const b = await dray(["sync", reg.host, `oci:${join(dir, "out-c")}`, "--format", "json"]);
    assert.equal(b.code, 3, b.stderr);
    assert.match(b.stderr, /holds no repositories\n$/);
  });

  it("a registry repository that is not there is exit 3 too, as `dray ls` of it is, and nothing is created", async () => {
    const out = join(dir, "out-f");
    const r = await dray(["sync", `${reg.host}/no/such/repo`, `oci:${out}`]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /^dray: not found: tag list at docker:\/\/\S+\/no\/such\/repo: .*NAME_UNKNOWN.*\n$/m);
    assert.ok(!existsSync(out));
    assert.equal((await dray(["ls", `docker://${reg.host}/no/such/repo`])).code, 3, "ls says the same");
  });

  it("a missing source beside one that syncs is one failure of the run (exit 1), not a silent success", async () => {
    const layouts = join(dir, "layouts");
    await writeOciLayout(join(layouts, "app"), await buildImage({ seed: "sources" }), "v1");
    const file = join(dir, "two.yaml");
    await writeFile(
      file,
      `sync:\n  - source: oci:${layouts}\n    destination: oci:${join(dir, "out-d")}\n  - source: oci-archive:${join(dir, "nope.tar")}\n    destination: oci:${join(dir, "out-e")}\n`,
    );
    const r = await dray(["sync", file]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /nope\.tar does not exist/);
    assert.ok(existsSync(join(dir, "out-d", "app", "index.json")));
  });
});
