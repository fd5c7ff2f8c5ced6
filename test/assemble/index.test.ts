// `dray index create|append|remove` against the real registry (which refuses
// an index whose children are missing, so a pushed index proves its children
// arrived first), OCI layouts and archives, read back by skopeo.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { buildImage, buildIndex, pushImage, writeOciLayout, type BuiltImage, type BuiltIndex } from "../helpers/fixtures.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { skopeo, skopeoCopy, skopeoInspect, skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { fetchManifest, pushSignedImage } from "../sync/artifacts.js";
import { rawManifestFromDocument } from "../../src/oci/manifest.js";
import { dray, drayOk } from "../cli/run.js";

interface IndexDoc {
  mediaType: string;
  manifests: Array<{ digest: string; mediaType: string; size: number; platform?: { os: string; architecture: string; variant?: string } }>;
  annotations?: Record<string, string>;
}

const sha256 = (b: Buffer): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

describe("dray index", () => {
  let registry: RegistryHandle;
  let dir: string;
  let amd64: BuiltImage;
  let arm64: BuiltImage;
  let amd64Again: BuiltImage;
  let multi: BuiltIndex;
  let host: string;

  before(async () => {
    requireTool("docker-registry");
    requireTool("skopeo");
    registry = await startRegistry();
    host = registry.host;
    dir = makeTempDir("dray-index-");
    amd64 = await buildImage({ platform: "linux/amd64", seed: "idx-a", layerSize: 20_000 });
    arm64 = await buildImage({ platform: "linux/arm64/v8", seed: "idx-b", layerSize: 20_000 });
    amd64Again = await buildImage({ platform: "linux/amd64", seed: "idx-c" });
    multi = await buildIndex({ platforms: ["linux/amd64", "linux/s390x", "linux/ppc64le"], seed: "idx-m" });
    // A single image in a layout (its platform only in its config), one in the registry.
    await writeOciLayout(join(dir, "amd64"), amd64, "1");
    await pushImage({ url: registry.url }, "src/arm64", "1", arm64);
    await pushImage({ url: registry.url }, "src/multi", "1", multi);
    await writeOciLayout(join(dir, "again"), amd64Again, "1");
  });

  after(async () => {
    await registry?.stop();
  });

  it("create: a layout child and a registry child pushed as one index; platforms from the configs; skopeo reads it back", async () => {
    const dst = `docker://${host}/app/multi:1`;
    const dry = await drayOk(["index", "create", "--dry-run", dst, `oci:${join(dir, "amd64")}:1`, `docker://${host}/src/arm64:1`]);
    const digest = sha256(dry.stdoutBytes);
    assert.match(dry.stderr, new RegExp(`Digest: ${digest}`));
    // A dry run writes nothing.
    assert.notEqual((await skopeo(["inspect", "--raw", "--tls-verify=false", dst])).code, 0);
    const r = await drayOk(["index", "create", "--format", "json", dst, `oci:${join(dir, "amd64")}:1`, `docker://${host}/src/arm64:1`]);
    const out = JSON.parse(r.stdout) as {
      Digest: string;
      Manifests: Array<{ Platform: string; Digest: string }>;
      Blobs: Record<string, number>;
    };
    assert.equal(out.Digest, digest, "the dry run printed the exact bytes");
    assert.deepEqual(
      out.Manifests.map((m) => [m.Platform, m.Digest]),
      [
        ["linux/amd64", amd64.manifest.digest.toString()],
        ["linux/arm64/v8", arm64.manifest.digest.toString()],
      ],
    );
    // The arm64 image's blobs are in the same registry: mounted, not uploaded.
    assert.equal(out.Blobs.Mounted, 2);
    const raw = await skopeoInspectRaw(dst, { tlsVerify: false });
    assert.ok(raw.equals(dry.stdoutBytes), "skopeo reads the bytes the dry run printed");
    const doc = JSON.parse(raw.toString()) as IndexDoc;
    assert.equal(doc.mediaType, "application/vnd.oci.image.index.v1+json");
    assert.deepEqual(doc.manifests[0]!.platform, { os: "linux", architecture: "amd64" });
    assert.deepEqual(doc.manifests[1]!.platform, { os: "linux", architecture: "arm64", variant: "v8" });
    const cfg = await skopeo(["--override-arch", "arm64", "--override-variant", "v8", "inspect", "--config", "--tls-verify=false", dst]);
    assert.equal((JSON.parse(cfg.stdout) as { architecture: string }).architecture, "arm64", cfg.stderr);
    assert.equal(((await skopeoInspect(dst, { config: true })) as { architecture: string }).architecture, "amd64");
    // Children kept their digests: the whole index copies into a layout with skopeo.
    const copied = await skopeoCopy(dst, `oci:${join(dir, "skopeo-out")}:x`, ["--all", "--preserve-digests"]);
    assert.equal(copied.code, 0, copied.stderr);
    const again = await drayOk(["digest", `oci:${join(dir, "skopeo-out")}:x`]);
    assert.equal(again.stdout.trim(), digest);
  });

  it("the same platform twice is exit 2; --replace keeps the later one in its place", async () => {
    const dst = `oci:${join(dir, "dup")}:1`;
    const srcs = [`oci:${join(dir, "amd64")}:1`, `docker://${host}/src/arm64:1`, `oci:${join(dir, "again")}:1`];
    const refused = await dray(["index", "create", dst, ...srcs]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /two images for linux\/amd64: .* use --replace/);
    const r = await drayOk(["index", "create", "--replace", "--format", "json", dst, ...srcs]);
    const out = JSON.parse(r.stdout) as { Manifests: Array<{ Digest: string; Platform: string }> };
    assert.deepEqual(
      out.Manifests.map((m) => m.Digest),
      [amd64Again.manifest.digest.toString(), arm64.manifest.digest.toString()],
    );
    const raw = JSON.parse((await skopeoInspectRaw(dst)).toString()) as IndexDoc;
    assert.equal(raw.manifests[0]!.digest, amd64Again.manifest.digest.toString());
  });

  it("an index source gives its children (--platform filters); --annotation and a Docker manifest list", async () => {
    const dst = `oci-archive:${join(dir, "filtered.tar")}:1`;
    await drayOk([
      "index",
      "create",
      "--platform",
      "linux/s390x",
      "--platform",
      "linux/arm64",
      "--annotation",
      "org.opencontainers.image.source=https://example.com/app",
      dst,
      `docker://${host}/src/multi:1`,
      `docker://${host}/src/arm64:1`,
    ]);
    const doc = JSON.parse((await skopeoInspectRaw(dst)).toString()) as IndexDoc;
    assert.deepEqual(
      doc.manifests.map((m) => m.digest),
      [multi.images[1]!.manifest.digest.toString(), arm64.manifest.digest.toString()],
    );
    assert.deepEqual(doc.annotations, { "org.opencontainers.image.source": "https://example.com/app" });
    const missing = await dray([
      "index",
      "create",
      "--platform",
      "windows/amd64",
      `oci:${join(dir, "none")}:1`,
      `docker://${host}/src/multi:1`,
    ]);
    assert.equal(missing.code, 3, missing.stderr);

    const list = `docker://${host}/app/list:1`;
    const docker = await dray([
      "index",
      "create",
      "--manifest-format",
      "docker",
      "--annotation",
      "a=b",
      list,
      `docker://${host}/src/multi:1`,
    ]);
    assert.equal(docker.code, 2, "Docker's list has no annotations");
    await drayOk(["index", "create", "--manifest-format", "docker", list, `docker://${host}/src/multi:1`]);
    const listDoc = JSON.parse((await skopeoInspectRaw(list, { tlsVerify: false })).toString()) as IndexDoc;
    assert.equal(listDoc.mediaType, "application/vnd.docker.distribution.manifest.list.v2+json");
    assert.equal(listDoc.manifests.length, 3);
  });

  it("append adds (a platform it has only with --replace) and remove drops, in an archive and a registry", async () => {
    const archive = `oci-archive:${join(dir, "edit.tar")}:v1`;
    const first = await drayOk(["index", "create", archive, `oci:${join(dir, "amd64")}:1`]);
    assert.match(first.stderr, /^Created .*: 1 entry, blobs /m);
    const added = await drayOk(["index", "append", archive, `docker://${host}/src/arm64:1`]);
    assert.notEqual(added.stdout.trim(), first.stdout.trim());
    assert.match(added.stderr, /Updated .* \(was sha256:[0-9a-f]{64}\): 2 entries, blobs /);
    const refused = await dray(["index", "append", archive, `oci:${join(dir, "again")}:1`]);
    assert.equal(refused.code, 2, refused.stderr);
    await drayOk(["index", "append", "--replace", archive, `oci:${join(dir, "again")}:1`]);
    let doc = JSON.parse((await skopeoInspectRaw(archive)).toString()) as IndexDoc;
    assert.deepEqual(
      doc.manifests.map((m) => m.digest),
      [amd64Again.manifest.digest.toString(), arm64.manifest.digest.toString()],
    );
    const removed = await drayOk(["index", "remove", "--format", "json", archive, "--platform", "linux/amd64"]);
    assert.deepEqual((JSON.parse(removed.stdout) as { Removed: string[] }).Removed, [amd64Again.manifest.digest.toString()]);
    doc = JSON.parse((await skopeoInspectRaw(archive)).toString()) as IndexDoc;
    assert.deepEqual(
      doc.manifests.map((m) => m.digest),
      [arm64.manifest.digest.toString()],
    );
    const absent = await dray(["index", "remove", archive, "--platform", "linux/riscv64"]);
    assert.equal(absent.code, 3, absent.stderr);

    const reg = `docker://${host}/app/edit:1`;
    await drayOk(["index", "create", reg, `docker://${host}/src/arm64:1`]);
    await drayOk(["index", "append", reg, `oci:${join(dir, "amd64")}:1`]);
    await drayOk(["index", "remove", reg, "--platform", "linux/arm64"]);
    doc = JSON.parse((await skopeoInspectRaw(reg, { tlsVerify: false })).toString()) as IndexDoc;
    assert.deepEqual(
      doc.manifests.map((m) => m.digest),
      [amd64.manifest.digest.toString()],
    );
    const image = await dray(["index", "append", `oci:${join(dir, "amd64")}:1`, `docker://${host}/src/arm64:1`]);
    assert.equal(image.code, 2, "append onto a single image is refused");
    assert.match(image.stderr, /is a single image, not an index/);
    await readFile(join(dir, "edit.tar"));
  });

  it("an index source whose entries name no platform: each gets its config's", async () => {
    const doc = JSON.parse(multi.manifest.bytes.toString()) as { manifests: Array<Record<string, unknown>> };
    for (const m of doc.manifests) delete m.platform;
    const bare = rawManifestFromDocument(doc, multi.manifest.mediaType);
    await writeOciLayout(join(dir, "bare"), { ...multi, manifest: bare }, "1");
    const r = await drayOk([
      "index",
      "create",
      "--dry-run",
      "--platform",
      "linux/ppc64le",
      `oci:${join(dir, "bare-out")}:1`,
      `oci:${join(dir, "bare")}:1`,
    ]);
    const out = JSON.parse(r.stdout) as IndexDoc;
    assert.deepEqual(out.manifests, [
      {
        mediaType: multi.images[2]!.manifest.mediaType,
        digest: multi.images[2]!.manifest.digest.toString(),
        size: multi.images[2]!.manifest.bytes.length,
        platform: { os: "linux", architecture: "ppc64le" },
      },
    ]);
  });

  it("--referrers brings each child's signatures from where it came; without it none", async () => {
    const { img, sig, cosign, hex } = await pushSignedImage({ url: registry.url }, "signed/app", "1.0", "idx-ref");
    const srcs = [`docker://${host}/signed/app:1.0`, `docker://${host}/src/arm64:1`];
    const plain = await drayOk(["index", "create", `docker://${host}/plain/app:1`, ...srcs]);
    assert.doesNotMatch(plain.stderr, /referrer/i);
    assert.equal(await fetchManifest(registry, "plain/app", `sha256-${hex}.sig`), undefined);
    const r = await drayOk(["index", "create", "--referrers", `docker://${host}/signed/index:1`, ...srcs]);
    assert.match(r.stderr, /Referrers: 2 copied/);
    assert.deepEqual(await fetchManifest(registry, "signed/index", sig.manifest.digest.toString()), sig.manifest.bytes);
    assert.deepEqual(await fetchManifest(registry, "signed/index", `sha256-${hex}.sig`), cosign.manifest.bytes);
    assert.deepEqual(await fetchManifest(registry, "signed/index", img.manifest.digest.toString()), img.manifest.bytes);
  });
});
