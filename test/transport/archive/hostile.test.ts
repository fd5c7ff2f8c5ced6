// Hostile archives: each must be refused with a clear error, and nothing may
// be written anywhere (dray never extracts; a refused read leaves the folder
// holding the archive and the "outside" folder beside it exactly as they were).
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import type { ErrorCode } from "../../../src/errors.js";
import { Digest } from "../../../src/oci/digest.js";
import type { DockerArchiveLocation, LayoutLocation } from "../../../src/ref/location.js";
import {
  openDockerArchiveReferences,
  openDockerArchiveSource,
  openOciArchiveReferences,
  openOciArchiveSource,
} from "../../../src/transport/archive/index.js";
import type { ImageSource } from "../../../src/transport/types.js";
import { buildImage, type BuiltImage } from "../../helpers/fixtures.js";
import { makeTempDir } from "../../helpers/tmp.js";
import { snapshot, streamToBuffer } from "../layout/util.js";
import { code, rawTar, type RawTarEntry } from "./support.js";

const REF_NAME = "org.opencontainers.image.ref.name";

/** A base folder with the archive and, beside it, an "outside" folder holding a secret that hostile names point at. */
async function scene(archive: Buffer): Promise<{ base: string; file: string; before: Record<string, string> }> {
  const base = makeTempDir();
  await mkdir(join(base, "outside"));
  await writeFile(join(base, "outside", "secret"), "top secret\n");
  const file = join(base, "archive.tar");
  await writeFile(file, archive);
  return { base, file, before: await snapshot(base) };
}

async function assertUntouched(s: { base: string; before: Record<string, string> }): Promise<void> {
  assert.deepEqual(await snapshot(s.base), s.before, "nothing written or changed");
}

function oloc(path: string, tag?: string): LayoutLocation {
  return tag === undefined ? { transport: "oci-archive", path } : { transport: "oci-archive", path, ref: { kind: "tag", tag } };
}

function dloc(path: string): DockerArchiveLocation {
  return { transport: "docker-archive", path };
}

/** The entries of a valid oci-archive holding `img` as "t"; `tweak` edits them before tarring. */
function ociEntries(img: BuiltImage, indexOverride?: unknown): RawTarEntry[] {
  const blobs = [img.config, ...img.layers, { digest: img.manifest.digest, bytes: img.manifest.bytes }];
  const index = indexOverride ?? {
    schemaVersion: 2,
    manifests: [
      {
        mediaType: img.manifest.mediaType,
        digest: img.manifest.digest.toString(),
        size: img.manifest.bytes.length,
        annotations: { [REF_NAME]: "t" },
      },
    ],
  };
  return [
    { name: "oci-layout", content: '{"imageLayoutVersion":"1.0.0"}' },
    ...blobs.map((b) => ({ name: b.digest.blobPath, content: b.bytes })),
    { name: "index.json", content: JSON.stringify(index) },
  ];
}

/** Opens and reads everything: the manifest, then every blob it names, to the end. */
async function readAll(src: ImageSource): Promise<void> {
  try {
    const m = JSON.parse((await src.getManifest()).bytes.toString()) as {
      config: { digest: string; size: number; mediaType: string };
      layers: Array<{ digest: string; size: number; mediaType: string }>;
    };
    for (const d of [m.config, ...m.layers]) await streamToBuffer(await src.getBlob({ ...d, digest: Digest.parse(d.digest) }));
  } finally {
    await src.close();
  }
}

async function refusedOci(archive: Buffer, c: ErrorCode, re: RegExp): Promise<void> {
  const s = await scene(archive);
  await assert.rejects(openOciArchiveSource(oloc(s.file, "t"), {}).then(readAll), code(c, re));
  await assertUntouched(s);
}

describe("hostile oci-archives are refused", () => {
  it("an entry named with ..", async () => {
    const img = await buildImage({ seed: "h-dotdot" });
    await refusedOci(
      await rawTar([...ociEntries(img), { name: "../outside/secret", content: "pwned" }]),
      "E_UNSAFE_INPUT",
      /"\.\.\/outside\/secret" contains "\.\."/,
    );
  });

  it("an entry with an absolute path", async () => {
    const img = await buildImage({ seed: "h-abs" });
    await refusedOci(await rawTar([{ name: "/tmp/evil", content: "x" }, ...ociEntries(img)]), "E_UNSAFE_INPUT", /absolute path/);
  });

  it("a blob that is a symlink pointing outside the archive", async () => {
    const img = await buildImage({ seed: "h-symlink" });
    const entries = ociEntries(img).map((e) =>
      e.name === img.layers[0]!.digest.blobPath ? { name: e.name, type: "symlink" as const, linkname: "../../../outside/secret" } : e,
    );
    await refusedOci(await rawTar(entries), "E_UNSAFE_INPUT", /points outside the archive/);
  });

  it("a blob that is a symlink inside the archive (OCI blobs must be files)", async () => {
    const img = await buildImage({ seed: "h-innerlink" });
    const entries = ociEntries(img).map((e) =>
      e.name === img.manifest.digest.blobPath ? { name: e.name, type: "symlink" as const, linkname: "../../index.json" } : e,
    );
    await refusedOci(await rawTar(entries), "E_UNSAFE_INPUT", /is a link/);
  });

  it("a hard link pointing outside the archive", async () => {
    const img = await buildImage({ seed: "h-hardlink" });
    await refusedOci(
      await rawTar([...ociEntries(img), { name: "x", type: "link", linkname: "../outside/secret" }]),
      "E_UNSAFE_INPUT",
      /hard link x points outside/,
    );
  });

  it("index.json naming a blob by a path instead of a digest", async () => {
    const img = await buildImage({ seed: "h-baddigest" });
    const index = { schemaVersion: 2, manifests: [{ mediaType: img.manifest.mediaType, digest: "sha256:../../outside/secret", size: 10 }] };
    await refusedOci(await rawTar(ociEntries(img, index)), "E_MANIFEST_INVALID", /not a valid digest/);
  });

  it("a file under blobs/ whose name is not a digest", async () => {
    const img = await buildImage({ seed: "h-blobname" });
    await refusedOci(
      await rawTar([...ociEntries(img), { name: "blobs/sha256/not-a-digest", content: "x" }]),
      "E_UNSAFE_INPUT",
      /not a blob name/,
    );
  });

  it("a manifest whose bytes do not match its digest", async () => {
    const img = await buildImage({ seed: "h-manifest-bytes" });
    const entries = ociEntries(img).map((e) =>
      e.name === img.manifest.digest.blobPath ? { ...e, content: Buffer.from(img.manifest.bytes.toString().replace("2", "3")) } : e,
    );
    await refusedOci(await rawTar(entries), "E_DIGEST_MISMATCH", /digest mismatch/);
  });

  it("a layer whose bytes do not match its digest (same size)", async () => {
    const img = await buildImage({ seed: "h-layer-bytes" });
    const l = img.layers[0]!;
    const tampered = Buffer.from(l.bytes);
    tampered[tampered.length - 1] ^= 0xff;
    const entries = ociEntries(img).map((e) => (e.name === l.digest.blobPath ? { ...e, content: tampered } : e));
    await refusedOci(await rawTar(entries), "E_DIGEST_MISMATCH", new RegExp(l.digest.hex));
  });

  it("an index.json far larger than any real one", async () => {
    const img = await buildImage({ seed: "h-bigindex" });
    const big = { schemaVersion: 2, manifests: [], padding: "x".repeat(17 * 1024 * 1024) };
    await refusedOci(await rawTar(ociEntries(img, big)), "E_TOO_LARGE", /index\.json/);
  });

  it("a truncated tar", async () => {
    const img = await buildImage({ seed: "h-truncated", layerSize: 64 * 1024 });
    const whole = await rawTar(ociEntries(img));
    await refusedOci(whole.subarray(0, 40 * 1024 + 100), "E_UNSAFE_INPUT", /not a valid tar archive/);
  });

  it("the same entry twice", async () => {
    const img = await buildImage({ seed: "h-dup" });
    await refusedOci(await rawTar([...ociEntries(img), { name: "./index.json", content: "{}" }]), "E_UNSAFE_INPUT", /appears twice/);
  });

  it("tag and delete refuse a hostile archive and leave it as it was", async () => {
    const img = await buildImage({ seed: "h-refs" });
    const s = await scene(await rawTar([...ociEntries(img), { name: "../outside/secret", content: "pwned" }]));
    await assert.rejects((await openOciArchiveReferences(oloc(s.file, "t"), {})).addTag("u"), code("E_UNSAFE_INPUT"));
    await assert.rejects((await openOciArchiveReferences(oloc(s.file, "t"), {})).deleteReference(), code("E_UNSAFE_INPUT"));
    await assertUntouched(s);
  });
});

/** The entries of a legacy docker-archive holding `img` (uncompressed layers) as hostile:1. */
function dockerEntries(img: BuiltImage, item?: Record<string, unknown>): RawTarEntry[] {
  const layers = img.layers.map((l, i) => ({ name: `${Digest.of(`h${i}`).hex}/layer.tar`, content: l.tar }));
  const manifest = item ?? { Config: `${img.config.digest.hex}.json`, RepoTags: ["hostile:1"], Layers: layers.map((l) => l.name) };
  return [
    { name: `${img.config.digest.hex}.json`, content: img.config.bytes },
    ...layers,
    { name: "manifest.json", content: JSON.stringify([manifest]) },
  ];
}

async function refusedDocker(archive: Buffer, c: ErrorCode, re: RegExp): Promise<void> {
  const s = await scene(archive);
  await assert.rejects(openDockerArchiveSource(dloc(s.file), {}).then(readAll), code(c, re));
  await assertUntouched(s);
}

describe("hostile docker-archives are refused", () => {
  it("manifest.json naming a layer by a path with ../", async () => {
    const img = await buildImage({ seed: "hd-dotdot", compression: "none" });
    const item = { Config: `${img.config.digest.hex}.json`, RepoTags: [], Layers: ["../outside/secret"] };
    await refusedDocker(await rawTar(dockerEntries(img, item)), "E_UNSAFE_INPUT", /contains "\.\."/);
  });

  it("manifest.json naming the config by an absolute path", async () => {
    const img = await buildImage({ seed: "hd-abs" });
    const item = { Config: "/etc/passwd", RepoTags: [], Layers: [] };
    await refusedDocker(await rawTar(dockerEntries(img, item)), "E_UNSAFE_INPUT", /absolute path/);
  });

  it("a layer.tar symlink pointing outside the archive", async () => {
    const img = await buildImage({ seed: "hd-symlink" });
    const entries = dockerEntries(img).map((e) =>
      e.name.endsWith("layer.tar") ? { name: e.name, type: "symlink" as const, linkname: "../../outside/secret" } : e,
    );
    await refusedDocker(await rawTar(entries), "E_UNSAFE_INPUT", /points outside the archive/);
  });

  it("a manifest.json far larger than any real one", async () => {
    const img = await buildImage({ seed: "hd-big" });
    const entries = dockerEntries(img).map((e) => (e.name === "manifest.json" ? { ...e, content: `[${" ".repeat(5 * 1024 * 1024)}]` } : e));
    await refusedDocker(await rawTar(entries), "E_TOO_LARGE", /manifest\.json/);
  });

  it("an uncompressed layer that does not match the config's diff_id", async () => {
    const img = await buildImage({ seed: "hd-diffid" });
    const other = await buildImage({ seed: "hd-diffid-other" });
    const entries = dockerEntries(img).map((e) => (e.name.endsWith("layer.tar") ? { ...e, content: other.layers[0]!.tar } : e));
    await refusedDocker(await rawTar(entries), "E_DIGEST_MISMATCH", /diff_id/);
  });

  it("a Docker 25+ blob whose bytes do not match its name", async () => {
    const img = await buildImage({ seed: "hd-25" });
    const fake = Digest.of("something else");
    const item = { Config: fake.blobPath, RepoTags: [], Layers: img.layers.map((l) => l.diffId.blobPath) };
    const entries: RawTarEntry[] = [
      { name: fake.blobPath, content: img.config.bytes },
      ...img.layers.map((l) => ({ name: l.diffId.blobPath, content: l.tar })),
      { name: "manifest.json", content: JSON.stringify([item]) },
    ];
    await refusedDocker(await rawTar(entries), "E_DIGEST_MISMATCH", /not the one its name promises/);
  });

  it("a gzip layer that inflates to something else than its diff_id", async () => {
    const img = await buildImage({ seed: "hd-gz-wrong" });
    const other = await buildImage({ seed: "hd-gz-other" });
    const entries = dockerEntries(img).map((e) => (e.name.endsWith("layer.tar") ? { ...e, content: other.layers[0]!.bytes } : e));
    await refusedDocker(await rawTar(entries), "E_DIGEST_MISMATCH", /inflates to/);
  });

  it("a gzip bomb: refused once the inflated size passes the cap, without inflating it all", async () => {
    // 700 gzip members of 1 MiB of zeros each: ~700 KiB that inflates to 700 MiB (the cap is 512 MiB here).
    const member = gzipSync(Buffer.alloc(1024 * 1024), { level: 9 });
    const bomb = Buffer.concat(Array.from({ length: 700 }, () => member));
    const img = await buildImage({ seed: "hd-bomb" });
    const entries = dockerEntries(img).map((e) => (e.name.endsWith("layer.tar") ? { ...e, content: bomb } : e));
    const started = Date.now();
    await refusedDocker(await rawTar(entries), "E_TOO_LARGE", /gzip bomb/);
    assert.ok(Date.now() - started < 60_000);
  });

  it("a truncated archive", async () => {
    const img = await buildImage({ seed: "hd-trunc", layerSize: 64 * 1024, compression: "none" });
    const whole = await rawTar(dockerEntries(img));
    await refusedDocker(whole.subarray(0, 20 * 1024 + 7), "E_UNSAFE_INPUT", /not a valid tar archive/);
  });

  it("tag refuses a hostile docker-archive and leaves it as it was", async () => {
    const img = await buildImage({ seed: "hd-refs" });
    const s = await scene(await rawTar([...dockerEntries(img), { name: "x/../../y", content: "" }]));
    await assert.rejects((await openDockerArchiveReferences(dloc(s.file), {})).addTag("hostile:2"), code("E_UNSAFE_INPUT"));
    await assertUntouched(s);
  });
});
