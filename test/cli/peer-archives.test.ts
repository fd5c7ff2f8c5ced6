// Archives other tools wrote, read as those tools read them (issue 27,
// "Layouts and archives others wrote"). Fixtures under test/peers/ (each
// folder's README says where they came from); skopeo 1.9 is the reference.
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { before, describe, it } from "node:test";
import { buildImage, tarFiles, writeOciLayout } from "../helpers/fixtures.js";
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

describe("a layout whose index.json has one invalid entry (item 20, containers/image's name_lookups)", () => {
  let dir: string;
  before(() => {
    dir = join(makeTempDir("dray-name-lookups-"), "l");
    mkdirSync(dir);
    copyFileSync(join(PEERS, "containers-image/oci/layout/fixtures/name_lookups/index.json"), join(dir, "index.json"));
    writeFileSync(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  });

  it("the valid names still resolve and list, with one warning for the skipped entry", async () => {
    const ls = await drayOk(["ls", `oci:${dir}`]);
    assert.deepEqual(ls.stdout.trim().split("\n"), ["a", "b", "c", "d"]);
    // b resolves; its blob is not in the fixture (containers/image's test resolves names only): not found, exit 3.
    const b = await dray(["inspect", "--raw", `oci:${dir}:b`]);
    assert.equal(b.code, 3, b.stderr);
    assert.match(b.stderr, /warning: skipping the index\.json entry "invalid-mime": descriptor mediaType "x-completely-unknown"/);
    assert.match(b.stderr, /blob sha256:b{64} not found/);
  });

  it("asking for the invalid entry is its error (exit 5), and a tag written into the layout keeps it in index.json", async () => {
    const bad = await dray(["inspect", "--raw", `oci:${dir}:invalid-mime`]);
    assert.equal(bad.code, 5, bad.stderr);
    assert.match(bad.stderr, /the index\.json entry "invalid-mime" is invalid/);
    assert.doesNotMatch(bad.stderr, /warning/);
    await drayOk(["copy", "-q", `docker-archive:${MULTI}:@0`, `oci:${dir}:new`]);
    const names = (
      JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as { manifests: Array<{ annotations?: Record<string, string> }> }
    ).manifests.map((m) => m.annotations?.["org.opencontainers.image.ref.name"]);
    assert.deepEqual(names.sort(), ["a", "b", "c", "d", "invalid-mime", "new"]);
  });
});

describe("a damaged archive already at a destination is refused before any blob moves (item 28)", () => {
  for (const [kind, file, meta] of [
    ["oci-archive", "bad-oci.tar", "index.json"],
    ["docker-archive", "bad-docker.tar", "manifest.json"],
  ] as const) {
    it(`${kind} whose ${meta} is not JSON: exit 5, no blob copied, the file left as it was`, async () => {
      const dir = makeTempDir("dray-bad-dest-");
      const src = join(dir, "src");
      await writeOciLayout(src, await buildImage({ seed: `bad-dest-${kind}`, layerCount: 2 }), "v1");
      const bad = join(dir, file);
      writeFileSync(
        bad,
        await tarFiles([
          { path: "oci-layout", content: '{"imageLayoutVersion":"1.0.0"}' },
          { path: meta, content: "{" },
        ]),
      );
      const before = readFileSync(bad);
      const r = await dray([
        "copy",
        "--progress",
        "plain",
        `oci:${src}:v1`,
        `${kind}:${bad}:${kind === "oci-archive" ? "v2" : "dray/y:v2"}`,
      ]);
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, new RegExp(`${meta}.* is not valid JSON|${meta} is not valid JSON`));
      assert.doesNotMatch(r.stderr, /copied blob/);
      assert.deepEqual(readFileSync(bad), before);
    });
  }
});
