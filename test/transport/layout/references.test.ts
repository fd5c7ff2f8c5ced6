// ls / tag / delete on a layout, and the garbage collection after delete.
import assert from "node:assert/strict";
import { access, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { isDrayError } from "../../../src/errors.js";
import type { LayoutLocation } from "../../../src/ref/location.js";
import { openLayoutDestination, openLayoutReferences } from "../../../src/transport/layout/index.js";
import { blobsOf, buildImage, buildIndex, buildLayer, manifestsOf, seededBytes } from "../../helpers/fixtures.js";
import { assertSkopeoOk, skopeoCopy, skopeoInspectRaw } from "../../helpers/skopeo.js";
import { makeTempDir } from "../../helpers/tmp.js";
import { putBuilt, snapshot } from "./util.js";

function loc(path: string, tag?: string): LayoutLocation {
  return tag === undefined ? { transport: "oci", path } : { transport: "oci", path, ref: { kind: "tag", tag } };
}

function blobFiles(snap: Record<string, string>): string[] {
  return Object.keys(snap).filter((k) => /^blobs\/sha256\/[0-9a-f]{64}$/.test(k));
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

describe("layout references", () => {
  it("lists, adds and moves tags without moving blobs", async () => {
    const dir = makeTempDir();
    const a = await buildImage({ seed: "ref-a" });
    const b = await buildImage({ seed: "ref-b" });
    await putBuilt(await openLayoutDestination(loc(dir, "a"), {}), a);
    await putBuilt(await openLayoutDestination(loc(dir, "b"), {}), b);
    const before = blobFiles(await snapshot(dir));
    const refs = await openLayoutReferences(loc(dir, "a"), {});
    assert.deepEqual(await refs.listTags(), ["a", "b"]);
    await refs.addTag("a2");
    await refs.addTag("b"); // moves b onto image a
    assert.deepEqual((await refs.listTags()).sort(), ["a", "a2", "b"]);
    assert.deepEqual(await skopeoInspectRaw(`oci:${dir}:b`), a.manifest.bytes);
    assert.deepEqual(await skopeoInspectRaw(`oci:${dir}:a2`), a.manifest.bytes);
    assert.deepEqual(blobFiles(await snapshot(dir)), before);
    await assert.rejects(refs.addTag("bad tag"), (e: unknown) => isDrayError(e, "E_REF_INVALID"));
    await assert.rejects((await openLayoutReferences(loc(dir, "zzz"), {})).addTag("x"), (e: unknown) => isDrayError(e, "E_NOT_FOUND"));
    await assert.rejects(openLayoutReferences(loc(join(dir, "absent"), "a"), {}), (e: unknown) => isDrayError(e, "E_NOT_FOUND"));
  });

  it("delete removes the reference, then exactly the blobs nothing else reaches", async () => {
    const dir = makeTempDir();
    const base = await buildLayer([{ path: "base.txt", content: "shared base" }]);
    const a = await buildImage({ seed: "gc-a", baseLayers: [base] });
    const b = await buildImage({ seed: "gc-b", baseLayers: [base] });
    await putBuilt(await openLayoutDestination(loc(dir, "a"), {}), a);
    await putBuilt(await openLayoutDestination(loc(dir, "b"), {}), b);
    await (await openLayoutReferences(loc(dir, "a"), {})).addTag("a2");
    const junk = join(dir, "blobs", "sha256", "not-a-digest.txt");
    await writeFile(junk, "left alone");

    // a is still reachable through a2: the entry goes, no blob does.
    const r1 = await (await openLayoutReferences(loc(dir, "a"), {})).deleteReference();
    assert.equal(r1.digest.toString(), a.manifest.digest.toString());
    assert.equal(r1.blobsRemoved, 0);
    assert.deepEqual(r1.alsoRemovedTags, []);

    // a2 was a's last name: its manifest, config and own layer go; the shared base stays.
    const r2 = await (await openLayoutReferences(loc(dir, "a2"), {})).deleteReference();
    assert.equal(r2.blobsRemoved, 3);
    assert.equal(await exists(join(dir, a.manifest.digest.blobPath)), false);
    assert.equal(await exists(join(dir, base.digest.blobPath)), true);
    assert.equal(await exists(junk), true);
    assert.deepEqual(await (await openLayoutReferences(loc(dir), {})).listTags(), ["b"]);
    // skopeo copies what is left, so every blob b needs is still there.
    assertSkopeoOk(await skopeoCopy(`oci:${dir}:b`, `oci:${makeTempDir()}:b`));
  });

  it("delete by digest removes every name of that image; an index goes with its children", async () => {
    const dir = makeTempDir();
    const idx = await buildIndex({ seed: "gc-index", platforms: ["linux/amd64", "linux/arm64"] });
    const other = await buildImage({ seed: "gc-other" });
    await putBuilt(await openLayoutDestination(loc(dir, "i"), {}), idx);
    await putBuilt(await openLayoutDestination(loc(dir, "other"), {}), other);
    await (await openLayoutReferences(loc(dir, "i"), {})).addTag("i2");
    const child = idx.images[0]!.manifest.digest;
    await assert.rejects(
      (await openLayoutReferences({ transport: "oci", path: dir, ref: { kind: "digest", digest: child } }, {})).deleteReference(),
      (e: unknown) => isDrayError(e, "E_UNSUPPORTED"),
    );
    const r = await (
      await openLayoutReferences({ transport: "oci", path: dir, ref: { kind: "digest", digest: idx.manifest.digest } }, {})
    ).deleteReference();
    assert.deepEqual(r.alsoRemovedTags.sort(), ["i", "i2"]);
    assert.equal(r.blobsRemoved, blobsOf(idx).length + manifestsOf(idx).length);
    assert.equal(blobFiles(await snapshot(dir)).length, blobsOf(other).length + 1);
    assert.deepEqual(await skopeoInspectRaw(`oci:${dir}:other`), other.manifest.bytes);
  });

  it("GC spares blobs a live writer has put but not committed, and sweeps dead writers' temporaries", async () => {
    const dir = makeTempDir();
    const a = await buildImage({ seed: "gc-live-a" });
    await putBuilt(await openLayoutDestination(loc(dir, "a"), {}), a);
    const writer = await openLayoutDestination(loc(dir, "w"), {});
    const pending = await buildImage({ seed: "gc-live-w" });
    for (const blob of blobsOf(pending)) await writer.putBlob(blob, Readable.from([blob.bytes]));
    const deadTmp = join(dir, ".dray-tmp-4194305-abcdef");
    await writeFile(deadTmp, seededBytes("dead", 100));

    const r = await (await openLayoutReferences(loc(dir, "a"), {})).deleteReference();
    assert.equal(r.blobsRemoved, blobsOf(a).length + 1);
    assert.equal(r.blobsSpared, blobsOf(pending).length);
    assert.equal(await exists(deadTmp), false);
    // The writer still commits a complete image.
    await writer.putManifest(pending.manifest, { isTop: true });
    await writer.commit();
    assert.deepEqual(await skopeoInspectRaw(`oci:${dir}:w`), pending.manifest.bytes);
    assertSkopeoOk(await skopeoCopy(`oci:${dir}:w`, `oci:${makeTempDir()}:w`));
  });

  it("a commit whose blobs vanished meanwhile fails instead of naming a broken image", async () => {
    const dir = makeTempDir();
    const img = await buildImage({ seed: "vanish" });
    const dest = await openLayoutDestination(loc(dir, "v"), {});
    for (const blob of blobsOf(img)) await dest.putBlob(blob, Readable.from([blob.bytes]));
    await dest.putManifest(img.manifest, { isTop: true });
    const { rm } = await import("node:fs/promises");
    await rm(join(dir, img.layers[0]!.digest.blobPath));
    await assert.rejects(dest.commit(), (e: unknown) => isDrayError(e, "E_IO") && /missing/.test(e.message));
    // Nothing named, and the folder (empty before) is empty again: the failed run's layout files and blobs are gone.
    assert.deepEqual(await readdir(dir), []);
  });
});
