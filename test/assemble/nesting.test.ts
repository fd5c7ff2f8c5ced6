// mutate, append and index refuse, as copy does, to write a layout inside a
// source layout's folder (or a layout around it): before anything moves,
// exit 2, one line, the source layout untouched. The same layout (a new tag)
// and a layout beside it still work; skopeo reads what they wrote.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { buildImage, writeOciLayout } from "../helpers/fixtures.js";
import { skopeo } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { dray } from "../cli/run.js";

const tree = async (d: string): Promise<string[]> => (await readdir(d, { recursive: true })).map(String).sort();

describe("mutate, append and index: no layout inside a source layout's folder", () => {
  let dir: string;
  let src: string;
  let files: string;

  before(async () => {
    dir = makeTempDir("dray-assemble-nest-");
    src = join(dir, "src");
    await writeOciLayout(src, await buildImage({ seed: "assemble-nesting" }), "v1");
    files = join(dir, "files");
    await mkdir(files);
    await writeFile(join(files, "hello.txt"), "hello\n");
  });

  it("a destination inside the source layout is exit 2 before anything moves", async () => {
    const untouched = await tree(src);
    const inside =
      /^dray: the destination oci(-archive)?:.* is inside the source layout's folder .*src: a layout folder holds only that layout/;
    const runs: Array<[string[], RegExp]> = [
      [["mutate", "--label", "a=b", `oci:${src}:v1`, `oci:${src}/m:v1`], inside],
      [["mutate", "--label", "a=b", `oci:${src}:v1`, `oci-archive:${src}/m.tar:v1`], inside],
      [["append", "--layer", files, "-t", `oci:${src}/blobs/sha256/a:v1`, `oci:${src}:v1`], inside],
      [["index", "create", `oci:${src}/i:v1`, `oci:${src}:v1`], inside],
      [["index", "append", `oci:${src}/i:v1`, `oci:${src}:v1`], inside],
    ];
    for (const [args, line] of runs) {
      const r = await dray(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, line);
      assert.equal(r.stderr.split("\n").length, 2, `one line: ${r.stderr}`);
    }
    assert.deepEqual(await tree(src), untouched, "nothing written into the source layout");
  });

  it("a destination layout around a source is exit 2", async () => {
    const outer = join(dir, "outer");
    const inner = join(outer, "inner");
    assert.equal((await dray(["copy", "-q", `oci:${src}:v1`, `oci:${inner}:v1`])).code, 0);
    const around = /^dray: the destination layout .*outer would hold the source oci:.*inner:v1 inside its folder/;
    for (const args of [
      ["mutate", "--label", "a=b", `oci:${inner}:v1`, `oci:${outer}:v1`],
      ["index", "create", `oci:${outer}:i`, `oci:${inner}:v1`],
    ]) {
      const r = await dray(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, around);
    }
    assert.equal(existsSync(join(outer, "index.json")), false, "no layout made around the source");
  });

  it("the same layout (a new tag) and a layout beside it are written as before", async () => {
    const beside = join(dir, "beside");
    const ok = [
      ["mutate", "-q", "--label", "a=b", `oci:${src}:v1`, `oci:${src}:m`],
      ["append", "-q", "--layer", files, "-t", `oci:${beside}:a`, `oci:${src}:v1`],
      ["index", "create", "-q", `oci:${beside}:i`, `oci:${src}:v1`],
    ];
    for (const args of ok) {
      const r = await dray(args);
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    }
    for (const loc of [`oci:${src}:m`, `oci:${beside}:a`]) {
      const r = await skopeo(["inspect", "--raw", loc]);
      assert.equal(r.code, 0, `${loc}: ${r.stderr}`);
    }
  });
});
