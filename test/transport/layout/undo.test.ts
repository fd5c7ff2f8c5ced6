// A failed run leaves a layout as it was (issue 19 papercut; README "leaves the
// destination as it was"): a folder it created goes, blobs it wrote that
// nothing references go, and never a blob another writer relies on. Real
// destinations on a real file system, several open at once in one process so
// every interleaving below is exact.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import type { LayoutLocation } from "../../../src/ref/location.js";
import { openLayoutDestination, openLayoutSource } from "../../../src/transport/layout/index.js";
import { blobsOf, buildImage, manifestsOf, writeOciLayout, type BuiltImage } from "../../helpers/fixtures.js";
import { makeTempDir } from "../../helpers/tmp.js";
import { putBuilt } from "./util.js";

function at(path: string, tag: string): LayoutLocation {
  return { transport: "oci", path, ref: { kind: "tag", tag } };
}

async function blobNames(dir: string): Promise<string[]> {
  return (await readdir(join(dir, "blobs", "sha256"))).sort();
}

/** Writes every blob and manifest of `img` the way the engine does, without committing. */
async function writeAll(dst: Awaited<ReturnType<typeof openLayoutDestination>>, img: BuiltImage): Promise<void> {
  for (const b of blobsOf(img)) if (!(await dst.hasBlob(b))) await dst.putBlob(b, Readable.from([b.bytes]));
  for (const m of manifestsOf(img)) await dst.putManifest(m, { isTop: m === img.manifest });
}

describe("a failed layout write is undone", () => {
  it("a folder the run created (and the parents it made) is removed; the folder above stays", async () => {
    const base = makeTempDir();
    const dir = join(base, "new", "deeper", "layout");
    const dst = await openLayoutDestination(at(dir, "v1"));
    await writeAll(dst, await buildImage({ seed: "undo-new" }));
    await dst.abort();
    assert.equal(existsSync(join(base, "new")), false, "the folders mkdir -p made are gone");
    assert.deepEqual(await readdir(base), [], "nothing left beside them");
  });

  it("an existing empty folder is left empty, not turned into an empty layout", async () => {
    const dir = join(makeTempDir(), "empty");
    await mkdir(dir);
    const dst = await openLayoutDestination(at(dir, "v1"));
    await writeAll(dst, await buildImage({ seed: "undo-empty" }));
    await dst.abort();
    assert.deepEqual(await readdir(dir), []);
  });

  it("an existing layout keeps exactly its blobs: new ones go, shared ones stay", async () => {
    const dir = makeTempDir();
    const base = await buildImage({ seed: "undo-base" });
    await writeOciLayout(dir, base, "old");
    const before = await blobNames(dir);
    // A new image, plus the old image's manifest written again (referenced: it must stay).
    const img = await buildImage({ seed: "undo-other", layerCount: 3 });
    const dst = await openLayoutDestination(at(dir, "v1"));
    await writeAll(dst, img);
    await dst.putManifest(base.manifest, { tag: "again" });
    assert.ok((await blobNames(dir)).length > before.length);
    await dst.abort();
    assert.deepEqual(await blobNames(dir), before);
    const src = await openLayoutSource(at(dir, "old"));
    assert.ok((await src.getManifest()).digest.equals(base.manifest.digest), "the old image still reads");
  });

  it("a commit that fails (a referenced blob missing) removes what the run wrote", async () => {
    const dir = makeTempDir();
    await writeOciLayout(dir, await buildImage({ seed: "undo-commit-base" }), "old");
    const before = await blobNames(dir);
    const img = await buildImage({ seed: "undo-commit", layerCount: 2 });
    const dst = await openLayoutDestination(at(dir, "v1"));
    const [first] = blobsOf(img);
    await dst.putBlob(first!, Readable.from([first!.bytes])); // the others never arrive
    await dst.putManifest(img.manifest, { isTop: true });
    await assert.rejects(dst.commit(), /missing from the layout/);
    assert.deepEqual(await blobNames(dir), before);
  });

  it("a blob another live writer found present and skipped is kept, and that writer commits", async () => {
    const dir = makeTempDir();
    const img = await buildImage({ seed: "undo-shared", layerCount: 2 });
    const failing = await openLayoutDestination(at(dir, "a"));
    await writeAll(failing, img);
    const other = await openLayoutDestination(at(dir, "b"));
    for (const b of blobsOf(img)) assert.equal(await other.hasBlob(b), true, "the other writer skips it");
    await failing.abort();
    await putBuilt(other, img, "b");
    const src = await openLayoutSource(at(dir, "b"));
    assert.ok((await src.getManifest()).digest.equals(img.manifest.digest));
    for (const b of blobsOf(img)) assert.equal(existsSync(join(dir, b.digest.blobPath)), true, `${b.digest} kept`);
  });

  it("a folder the failed run created stays while another writer is in it", async () => {
    const dir = join(makeTempDir(), "fresh");
    const failing = await openLayoutDestination(at(dir, "a"));
    const other = await openLayoutDestination(at(dir, "b"));
    await failing.abort();
    assert.equal(existsSync(join(dir, "oci-layout")), true);
    const img = await buildImage({ seed: "undo-fresh" });
    await putBuilt(other, img, "b");
    const src = await openLayoutSource(at(dir, "b"));
    assert.ok((await src.getManifest()).digest.equals(img.manifest.digest));
  });

  it("a writer that opens after a failed run removed the folder makes it again", async () => {
    const dir = join(makeTempDir(), "again");
    const failing = await openLayoutDestination(at(dir, "a"));
    await failing.abort();
    assert.equal(existsSync(dir), false);
    const img = await buildImage({ seed: "undo-again" });
    await putBuilt(await openLayoutDestination(at(dir, "b")), img, "b");
    assert.ok((await (await openLayoutSource(at(dir, "b"))).getManifest()).digest.equals(img.manifest.digest));
  });
});
