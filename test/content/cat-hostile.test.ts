// dray cat and dray export on layers that lie: names out of the root,
// symlinks out of the root or in loops, a symlink under an upper entry's
// name, hard links out of the tree, devices, NUL and newline in names. Each
// image is a real OCI layout built by code; the CLI runs as a user runs it.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { before, describe, it } from "node:test";
import * as tar from "tar-stream";
import { dray, drayOk } from "../cli/run.js";
import { Digest } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/mediatype.js";
import { buildImage, buildIndex, writeOciLayout, type BuiltImage, type BuiltLayer, type FixtureFile } from "../helpers/fixtures.js";
import { makeTempDir } from "../helpers/tmp.js";

const run = promisify(execFile);

/** A layout holding one image of these layers, at `oci:DIR:t`. */
async function layoutOf(dir: string, name: string, layers: FixtureFile[][]): Promise<{ loc: string; image: BuiltImage; path: string }> {
  const image = await buildImage({ layerFiles: layers, seed: name });
  const path = join(dir, name);
  await writeOciLayout(path, image, "t");
  return { loc: `oci:${path}:t`, image, path };
}

type RawEntry = Parameters<tar.Pack["entry"]>[0];

/** A layer from raw tar entries that FixtureFile cannot say (devices, FIFOs, PAX names). */
async function rawLayer(entries: RawEntry[]): Promise<BuiltLayer> {
  const p = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    if (e.type === "file") p.entry(e, "x");
    else p.entry(e);
  }
  p.finalize();
  await done;
  const bytes = Buffer.concat(chunks);
  return {
    digest: Digest.of(bytes),
    size: bytes.length,
    mediaType: MediaType.OciLayer,
    bytes,
    diffId: Digest.of(bytes),
    tar: bytes,
    files: [],
  };
}

async function rawLayout(dir: string, name: string, entries: RawEntry[]): Promise<string> {
  const image = await buildImage({ layerFiles: [], baseLayers: [await rawLayer(entries)], seed: name });
  await writeOciLayout(join(dir, name), image, "t");
  return `oci:${join(dir, name)}:t`;
}

describe("dray cat", () => {
  let dir: string;
  let img: { loc: string; image: BuiltImage; path: string };

  before(async () => {
    dir = makeTempDir();
    img = await layoutOf(dir, "cat", [
      [
        { path: "etc/", type: "directory" },
        { path: "etc/os-release", content: "ID=drayos\n" },
        { path: "etc/old", content: "old\n" },
        { path: "etc/gone", content: "gone\n" },
        { path: "real/", type: "directory" },
        { path: "real/f", content: "via a folder link\n" },
        { path: "opq/", type: "directory" },
        { path: "opq/hidden", content: "h\n" },
        { path: "data", content: "data v1\n" },
        { path: "hard", type: "link", linkname: "data" },
      ],
      [
        { path: "etc/old", content: "new\n" },
        { path: "etc/.wh.gone", content: "" },
        { path: "opq/.wh..wh..opq", content: "" },
        { path: "lnk", type: "symlink", linkname: "/real" },
        { path: "rel", type: "symlink", linkname: "etc/../etc/os-release" },
        { path: "chain", type: "symlink", linkname: "rel" },
        { path: "out", type: "symlink", linkname: "../../../etc/passwd" },
        { path: "loop1", type: "symlink", linkname: "loop2" },
        { path: "loop2", type: "symlink", linkname: "/loop1" },
        { path: "data", content: "data v2\n" },
      ],
    ]);
  });

  for (const [path, want] of [
    ["/etc/os-release", "ID=drayos\n"],
    ["etc/old", "new\n"],
    ["/lnk/f", "via a folder link\n"],
    ["/chain", "ID=drayos\n"],
    ["/hard", "data v1\n"],
    ["/data", "data v2\n"],
  ] as const) {
    it(`${path}: exactly the merged file's bytes`, async () => {
      const r = await drayOk(["cat", img.loc, path]);
      assert.equal(r.stdout, want);
    });
  }

  for (const path of ["/etc/gone", "/opq/hidden", "/nothing", "/etc/os-release/x"]) {
    it(`${path}: hidden by a whiteout or opaque directory, or in no layer: exit 3`, async () => {
      const r = await dray(["cat", img.loc, path]);
      assert.equal(r.code, 3, r.stderr);
      assert.equal(r.stdout, "");
    });
  }

  for (const path of ["/out", "/loop1"]) {
    it(`${path}: a symlink out of the root or in a loop is exit 5`, async () => {
      const r = await dray(["cat", img.loc, path]);
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, /out of the image root|too many levels/);
    });
  }

  it("stops at the layer that holds the file: a lower layer that is corrupt is never read", async () => {
    const copy = await layoutOf(dir, "cat-corrupt", [[{ path: "low", content: "x" }], [{ path: "top", content: "from the top\n" }]]);
    await writeFile(join(copy.path, copy.image.layers[0]!.digest.blobPath), "garbage");
    const r = await drayOk(["cat", copy.loc, "/top"]);
    assert.equal(r.stdout, "from the top\n");
    const low = await dray(["cat", copy.loc, "/low"]);
    assert.equal(low.code, 5, "reading the corrupt layer fails its check");
  });

  it("--list, --long and --format json show the merged tree", async () => {
    const names = (await drayOk(["cat", "--list", img.loc])).stdout.split("\n").filter(Boolean);
    assert.ok(
      names.includes("/etc/os-release") && names.includes("/opq") && !names.includes("/opq/hidden") && !names.includes("/etc/gone"),
    );
    const long = (await drayOk(["cat", "--list", "--long", img.loc, "/etc"])).stdout;
    assert.match(long, /^drwxr-xr-x 0\/0 +0 \d{4}-\d\d-\d\d \d\d:\d\d \/etc$/m);
    assert.match(long, /^-rw-r--r-- 0\/0 +4 .* \/etc\/old$/m);
    const json = JSON.parse((await drayOk(["cat", "--list", "--format", "json", img.loc, "/lnk"])).stdout) as Array<
      Record<string, unknown>
    >;
    assert.deepEqual(
      json.map((e) => [e.Path, e.Type, e.Linkname, e.ModeOctal]),
      [["/lnk", "symlink", "/real", "0777"]],
    );
    assert.equal((await dray(["cat", "--list", img.loc, "/nothing"])).code, 3);
  });
});

describe("dray export on hostile layers", () => {
  let dir: string;
  before(() => {
    dir = makeTempDir();
  });

  it("a name that climbs out of the root (../x) is refused, exit 5, and -o leaves nothing behind", async () => {
    const { loc } = await layoutOf(dir, "climb", [
      [
        { path: "ok", content: "1" },
        { path: "a/../../x", content: "evil" },
      ],
    ]);
    const outDir = join(dir, "climb-out");
    await import("node:fs/promises").then((fs) => fs.mkdir(outDir));
    const r = await dray(["export", loc, "-o", join(outDir, "fs.tar")]);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /points outside the image root/);
    assert.deepEqual(await readdir(outDir), []);
  });

  it("a hard link to a path out of the tree is refused, exit 5", async () => {
    const { loc } = await layoutOf(dir, "hardout", [[{ path: "h", type: "link", linkname: "../../etc/passwd" }]]);
    const r = await dray(["export", loc, "-o", join(dir, "hardout.tar")]);
    assert.equal(r.code, 5, r.stderr);
    assert.ok(!existsSync(join(dir, "hardout.tar")));
  });

  it("absolute names and ./ are normalised into the root; a lower symlink never carries an upper name out", async () => {
    const { loc } = await layoutOf(dir, "evil", [
      [
        { path: "evil", type: "symlink", linkname: "/etc" },
        { path: "/abs/file", content: "abs" },
      ],
      [{ path: "./evil/dray-export-probe", content: "must stay inside" }],
    ]);
    const out = join(dir, "evil.tar");
    await drayOk(["export", loc, "-o", out]);
    const listing = (await run("tar", ["-tvf", out])).stdout;
    assert.match(listing, / abs\/file$/m);
    assert.match(listing, / evil\/dray-export-probe$/m);
    assert.doesNotMatch(listing, /evil -> /, "the symlink an upper layer's directory replaced is gone");
    const x = join(dir, "evil-x");
    await import("node:fs/promises").then((fs) => fs.mkdir(x));
    await run("tar", ["-xf", out, "-C", x]);
    assert.equal(await readFile(join(x, "evil", "dray-export-probe"), "utf8"), "must stay inside");
    assert.ok(!existsSync("/etc/dray-export-probe"));
  });

  it("devices and FIFOs are kept as entries; a newline in a name is kept and quoted by --list", async () => {
    const loc = await rawLayout(dir, "dev", [
      { name: "dev/", type: "directory", mode: 0o755 },
      { name: "dev/null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666 },
      { name: "dev/fifo", type: "fifo", mode: 0o644 },
      { name: "two\nlines", type: "file", mode: 0o644 },
    ]);
    const r = await drayOk(["export", loc, "-o", "-"]);
    const names: Array<[string, string]> = [];
    const extract = tar.extract();
    const done = (async () => {
      for await (const e of extract) {
        names.push([e.header.name, e.header.type]);
        e.resume();
      }
    })();
    extract.end(r.stdoutBytes);
    await done;
    assert.deepEqual(names.sort(), [
      ["dev/", "directory"],
      ["dev/fifo", "fifo"],
      ["dev/null", "character-device"],
      ["two\nlines", "file"],
    ]);
    const list = (await drayOk(["cat", "--list", loc])).stdout;
    assert.equal(list, '/dev\n/dev/fifo\n/dev/null\n"/two\\nlines"\n');
    assert.equal((await drayOk(["cat", loc, "/two\nlines"])).stdout, "x");
  });

  it("a NUL in a name (through a PAX path record) is refused, exit 5", async () => {
    const loc = await rawLayout(dir, "nul", [{ name: "plain", type: "file", pax: { path: "a\u0000b" } } as RawEntry]);
    const r = await dray(["export", loc, "-o", join(dir, "nul.tar")]);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /NUL/);
  });
});

describe("dray cat / export of an index", () => {
  it("--platform picks the image; without it, this machine's platform (as inspect --config)", async () => {
    const dir = makeTempDir();
    const index = await buildIndex({ seed: "plat", platforms: ["linux/amd64", "linux/arm64/v8"] });
    await writeOciLayout(join(dir, "idx"), index, "t");
    const loc = `oci:${join(dir, "idx")}:t`;
    const arm = await drayOk(["cat", "--platform", "linux/arm64/v8", loc, "/layer0/hello.txt"]);
    assert.equal(arm.stdout, "hello from layer 0 of plat/linux/arm64/v8\n");
    const exported = await drayOk(["export", "--platform", "linux/arm64/v8", loc, "-o", "-"]);
    const file = join(dir, "arm.tar");
    await writeFile(file, exported.stdoutBytes);
    assert.match((await run("tar", ["-xOf", file, "layer0/hello.txt"])).stdout, /plat\/linux\/arm64\/v8/);
    if (process.arch === "x64")
      assert.equal((await drayOk(["cat", loc, "/layer0/hello.txt"])).stdout, "hello from layer 0 of plat/linux/amd64\n");
    assert.equal((await dray(["cat", "--platform", "linux/s390x", loc, "/layer0/hello.txt"])).code, 3);
  });
});
