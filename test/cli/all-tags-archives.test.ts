// --all-tags with archives at either end (issue 19, bugs 6 and 7): an
// oci-archive read from standard input is saved once and then listed and
// read per tag; a docker-archive destination gets every tag, as
// `docker save IMG:a IMG:b` writes them, and skopeo reads each.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { buildImage, writeOciLayout, type BuiltImage } from "../helpers/fixtures.js";
import { requireTool } from "../helpers/registry.js";
import { skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { dray, drayOk } from "./run.js";

describe("--all-tags from and into archives", () => {
  let work: string;
  let layout: string;
  let archive: string;
  let v1: BuiltImage;
  let v2: BuiltImage;

  before(async () => {
    requireTool("skopeo");
    work = makeTempDir("dray-all-tags-archives-");
    layout = join(work, "layout");
    v1 = await buildImage({ seed: "ata-v1" });
    v2 = await buildImage({ seed: "ata-v2" });
    await writeOciLayout(layout, v1, "v1");
    await drayOk(["copy", "-q", `oci:${layout}:v1`, `oci:${layout}:keep`]);
    const other = join(work, "other");
    await writeOciLayout(other, v2, "v2");
    await drayOk(["copy", "-q", `oci:${other}:v2`, `oci:${layout}:v2`]);
    archive = join(work, "all.tar");
    await drayOk(["copy", "-q", "--all-tags", `oci:${layout}`, `oci-archive:${archive}`]);
  });

  it("bug 6: --all-tags from oci-archive:- (standard input) copies every tag, no warning", async () => {
    const out = join(work, "from-stdin");
    const r = await dray(["copy", "-q", "--all-tags", "oci-archive:-", `oci:${out}`], { input: await readFile(archive) });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /MaxListeners|Warning/);
    for (const [tag, img] of [
      ["v1", v1],
      ["keep", v1],
      ["v2", v2],
    ] as const) {
      assert.ok((await skopeoInspectRaw(`oci:${out}:${tag}`)).equals(img.manifest.bytes), `${tag} arrived byte for byte`);
    }
  });

  it("bug 7: --all-tags into docker-archive:FILE:NAME writes every tag as NAME:TAG; skopeo reads each", async () => {
    const file = join(work, "docker-all.tar");
    const r = await dray(["copy", "-q", "--all-tags", `oci:${layout}`, `docker-archive:${file}:dray/app`]);
    assert.equal(r.code, 0, r.stderr);
    for (const tag of ["v1", "keep", "v2"]) {
      const raw = JSON.parse((await skopeoInspectRaw(`docker-archive:${file}:dray/app:${tag}`)).toString()) as { layers: unknown[] };
      assert.ok(raw.layers.length > 0, `dray/app:${tag} is in the archive`);
    }
  });

  it("bug 7: --all-tags into a docker-archive without a repository name is refused with one clear message", async () => {
    const r = await dray(["copy", "--all-tags", `oci:${layout}`, `docker-archive:${join(work, "noname.tar")}`]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /^dray: --all-tags into a docker-archive needs a repository for its RepoTags: docker-archive:.*noname\.tar:NAME\n$/,
    );
  });

  it("hints name the form the user typed: oci-archive:FILE:REF, oci-archive:-:REF (issue 19)", async () => {
    const file = await dray(["inspect", `oci-archive:${archive}`]);
    assert.equal(file.code, 2);
    assert.match(file.stderr, new RegExp(`name one as oci-archive:${archive.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}:REF`));
    const stdin = await dray(["inspect", "oci-archive:-"], { input: await readFile(archive) });
    assert.equal(stdin.code, 2);
    assert.match(stdin.stderr, /name one as oci-archive:-:REF/);
    assert.doesNotMatch(stdin.stderr + file.stderr, /oci:oci-archive|oci:\/.*\.tar:REF/);
  });

  it("tag on a docker-archive takes NAME:TAG and names the RepoTag it added (issue 19)", async () => {
    const file = join(work, "tag-me.docker.tar");
    await drayOk(["copy", "-q", `oci:${layout}:v1`, `docker-archive:${file}:example.test/one:v1`]);
    const r = await drayOk(["tag", `docker-archive:${file}`, "example.test/other:v9"]);
    assert.match(r.stderr, /^Tagged docker-archive:.*tag-me\.docker\.tar:example\.test\/other:v9$/m);
    assert.deepEqual((await drayOk(["ls", `docker-archive:${file}`])).stdout.trim().split("\n").sort(), [
      "example.test/one:v1",
      "example.test/other:v9",
    ]);
  });
});
