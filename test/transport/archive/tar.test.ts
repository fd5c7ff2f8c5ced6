// The tar layer under both archive transports: the offset index against tars
// written by GNU tar (an independent writer, in GNU and POSIX formats, with
// long names), dray's own writer read back, links, caps.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { TarIndex } from "../../../src/transport/archive/tar-index.js";
import { TarWriter } from "../../../src/transport/archive/tar-writer.js";
import { seededBytes } from "../../helpers/fixtures.js";
import { makeTempDir } from "../../helpers/tmp.js";
import { streamToBuffer } from "../layout/util.js";
import { code, rawTar } from "./support.js";

const LONG = `blobs/sha512/${"ab".repeat(64)}`;

describe("TarIndex", () => {
  for (const format of ["gnu", "posix", "ustar"] as const) {
    it(`indexes a ${format} tar written by GNU tar: every entry's bytes read back by offset`, async () => {
      const dir = makeTempDir();
      const root = join(dir, "root");
      const files: Record<string, Buffer> = {
        "index.json": Buffer.from("{}"),
        "blobs/sha256/small": Buffer.from("x"),
        "blobs/sha256/empty": Buffer.alloc(0),
        "big.bin": seededBytes("big", 300_000),
      };
      if (format !== "ustar") files[LONG] = seededBytes("long", 1234);
      for (const [name, bytes] of Object.entries(files)) {
        await mkdir(join(root, name, ".."), { recursive: true });
        await writeFile(join(root, name), bytes);
      }
      const file = join(dir, "t.tar");
      execFileSync("tar", ["-C", root, `--format=${format}`, "-cf", file, "."]);
      const tar = await TarIndex.open(file);
      for (const [name, bytes] of Object.entries(files)) {
        const e = tar.resolveFile(name, "file", false);
        assert.equal(e.size, bytes.length, name);
        assert.deepEqual(await streamToBuffer(tar.stream(e)), bytes, name);
      }
      assert.equal(tar.get("blobs")?.kind, "directory");
    });
  }

  it("reads back dray's writer: long names, symlinks and hard links followed only when asked", async () => {
    const dir = makeTempDir();
    const file = join(dir, "w.tar");
    const w = TarWriter.toFile(file);
    await w.addParents(LONG);
    await Promise.all([
      w.addBuffer(LONG, Buffer.from("long")),
      w.addBuffer("a/layer.tar", Buffer.from("layer")),
      w.addSymlink("b/layer.tar", "../a/layer.tar"),
    ]);
    await w.addHardlink("c", "a/layer.tar");
    await w.finish();
    const tar = await TarIndex.open(file);
    assert.deepEqual(
      tar.entries.map((e) => `${e.kind}:${e.name}`),
      ["directory:blobs", "directory:blobs/sha512", `file:${LONG}`, "file:a/layer.tar", "symlink:b/layer.tar", "link:c"],
    );
    assert.deepEqual(await tar.readBytes(tar.resolveFile(LONG, "f", false), 100, "f"), Buffer.from("long"));
    for (const n of ["b/layer.tar", "c"]) {
      assert.deepEqual(await tar.readBytes(tar.resolveFile(n, "f", true), 100, "f"), Buffer.from("layer"));
      assert.throws(() => tar.resolveFile(n, "blob", false), code("E_UNSAFE_INPUT", /is a link/));
    }
    assert.throws(() => tar.resolveFile("nope", "blob", true), code("E_NOT_FOUND"));
    await assert.rejects(tar.readBytes(tar.resolveFile("a/layer.tar", "f", false), 3, "f"), code("E_TOO_LARGE"));
  });

  it("refuses a symlink loop", async () => {
    const dir = makeTempDir();
    const file = join(dir, "loop.tar");
    await writeFile(
      file,
      await rawTar([
        { name: "a", type: "symlink", linkname: "b" },
        { name: "b", type: "symlink", linkname: "a" },
      ]),
    );
    const tar = await TarIndex.open(file);
    assert.throws(() => tar.resolveFile("a", "layer", true), code("E_UNSAFE_INPUT", /links in a row/));
  });

  it("refuses a file that is not a tar", async () => {
    const dir = makeTempDir();
    const file = join(dir, "junk.tar");
    await writeFile(file, seededBytes("junk", 4096));
    await assert.rejects(TarIndex.open(file), code("E_UNSAFE_INPUT", /not a valid tar archive/));
    await assert.rejects(TarIndex.open(join(dir, "missing.tar")), code("E_NOT_FOUND"));
  });
});
