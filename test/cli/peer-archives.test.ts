// Archives other tools wrote, read as those tools read them (issue 27,
// "Layouts and archives others wrote"). Fixtures under test/peers/ (each
// folder's README says where they came from); skopeo 1.9 is the reference.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { before, describe, it } from "node:test";
import { requireTool } from "../helpers/registry.js";
import { skopeoInspect } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { dray, drayOk } from "./run.js";

const PEERS = fileURLToPath(new URL("../../../test/peers/", import.meta.url));
const MULTI = join(PEERS, "podman/save-multi-image.tar");

function inspectJson(stdout: string): { Layers: string[]; RepoTags: string[]; Digest: string } {
  return JSON.parse(stdout) as { Layers: string[]; RepoTags: string[]; Digest: string };
}

describe("docker-archive:FILE:@N, skopeo's N-th image of a multi-image archive (item 22)", () => {
  before(() => requireTool("skopeo"));

  it("@0 and @1 pick the images skopeo picks, and the same as their NAME:TAG", async () => {
    for (const [n, name] of [
      [0, "localhost/bazel/pkg/v1/mutate:source_image"],
      [1, "localhost/bazel/pkg/v1/mutate:whiteout_image"],
    ] as const) {
      const ours = inspectJson((await drayOk(["inspect", `docker-archive:${MULTI}:@${n}`])).stdout);
      const theirs = (await skopeoInspect(`docker-archive:${MULTI}:@${n}`)) as { Layers: string[] };
      assert.deepEqual(ours.Layers, theirs.Layers, `@${n}`);
      const byName = inspectJson((await drayOk(["inspect", `docker-archive:${MULTI}:${name}`])).stdout);
      assert.equal(ours.Digest, byName.Digest, `@${n} is ${name}`);
    }
  });

  it("copies the N-th image", async () => {
    const dir = makeTempDir("dray-at-n-");
    await drayOk(["copy", "-q", `docker-archive:${MULTI}:@1`, `oci:${dir}:w`]);
    const copied = inspectJson((await drayOk(["inspect", `oci:${dir}:w`])).stdout);
    assert.equal(copied.Layers.length, 3);
  });

  it("an index past the end is not found (exit 3), and @N as a destination is a usage error (exit 2) before anything is written", async () => {
    const missing = await dray(["inspect", `docker-archive:${MULTI}:@2`]);
    assert.equal(missing.code, 3, missing.stderr);
    assert.match(missing.stderr, /image @2 not found in .*: it holds 2 images \(@0 to @1\)/);
    const out = join(makeTempDir("dray-at-n-dst-"), "x.tar");
    const dest = await dray(["copy", `docker-archive:${MULTI}:@0`, `docker-archive:${out}:@1`]);
    assert.equal(dest.code, 2, dest.stderr);
    assert.match(dest.stderr, /picks an image to read; a destination takes NAME:TAG/);
  });
});
