import type { RawManifest } from "../../src/oci/manifest.js";
// `dray copy --referrers` as a user runs it (child process) against a real
// registry (distribution 2.8, no referrers API, so the tag schema): an image
// with an OCI 1.1 signature artifact (listed by the `sha256-<hex>` fallback
// index) and a cosign-style `sha256-<hex>.sig` tag. With the flag all three
// arrive byte for byte, in another registry and in an OCI layout; without it
// none does.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { BuiltImage } from "../helpers/fixtures.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { SIGNATURE_TYPE, fetchManifest, listTags, pushSignedImage, type BuiltArtifact } from "../sync/artifacts.js";
import { isolateCredentials } from "../transport/registry/support.js";
import { dray } from "./run.js";

describe("dray copy --referrers", () => {
  let src: RegistryHandle;
  let dst: RegistryHandle;
  let img: BuiltImage;
  let sig: BuiltArtifact;
  let cosign: BuiltArtifact;
  let index: RawManifest;
  let hex: string;

  before(async () => {
    requireTool("docker-registry");
    requireTool("skopeo");
    isolateCredentials();
    [src, dst] = await Promise.all([startRegistry(), startRegistry()]);
    ({ img, sig, cosign, index, hex } = await pushSignedImage(src, "app", "1.0", "cli-copy-ref"));
  });

  after(async () => {
    await Promise.all([src?.stop(), dst?.stop()]);
  });

  it("registry to registry: the image digest on stdout; the artifact, the fallback index and the .sig tag arrive byte for byte", async () => {
    const r = await dray(["copy", "--referrers", `docker://${src.host}/app:1.0`, `docker://${dst.host}/mirror/app:1.0`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${img.manifest.digest}\n`);
    assert.ok(r.stderr.includes(`referrer ${sig.manifest.digest} (${SIGNATURE_TYPE}): copied`), r.stderr);
    assert.ok(r.stderr.includes(`referrer sha256-${hex}.sig: copied`), r.stderr);
    assert.match(r.stderr, /Referrers: 2 copied, 0 up to date, 0 failed/);

    assert.deepEqual(await fetchManifest(dst, "mirror/app", "1.0"), img.manifest.bytes);
    assert.deepEqual(await fetchManifest(dst, "mirror/app", sig.manifest.digest.toString()), sig.manifest.bytes);
    assert.deepEqual(await fetchManifest(dst, "mirror/app", `sha256-${hex}`), index.bytes);
    assert.deepEqual(await fetchManifest(dst, "mirror/app", `sha256-${hex}.sig`), cosign.manifest.bytes);
    // skopeo, an independent reader, sees the same bytes.
    assert.deepEqual(
      await skopeoInspectRaw(`docker://${dst.host}/mirror/app:sha256-${hex}.sig`, { tlsVerify: false }),
      cosign.manifest.bytes,
    );

    const ls = await dray(["ls", `docker://${dst.host}/mirror/app`]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual(ls.stdout.split("\n").filter(Boolean).sort(), ["1.0", `sha256-${hex}`, `sha256-${hex}.sig`].sort());

    // A second run finds the referrers already there.
    const again = await dray(["copy", "--referrers", `docker://${src.host}/app:1.0`, `docker://${dst.host}/mirror/app:1.0`]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, `${img.manifest.digest}\n`);
    assert.match(again.stderr, /Referrers: 0 copied, 1 up to date, 0 failed/);
    // --format json reports the referrers too (issue 19).
    const json = await dray(["copy", "--referrers", "-f", "json", `docker://${src.host}/app:1.0`, `docker://${dst.host}/mirror/app:1.0`]);
    assert.equal(json.code, 0, json.stderr);
    const doc = JSON.parse(json.stdout) as { Digest: string; Referrers: { UpToDate: number; Failed: number } };
    assert.equal(doc.Digest, img.manifest.digest.toString());
    assert.equal(doc.Referrers.UpToDate, 1);
    assert.equal(doc.Referrers.Failed, 0);
  });

  it("without --referrers only the image arrives: no artifact, no fallback index, no .sig tag", async () => {
    const r = await dray(["copy", `docker://${src.host}/app:1.0`, `docker://${dst.host}/plain/app:1.0`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${img.manifest.digest}\n`);
    assert.doesNotMatch(r.stderr, /referrer/i);
    assert.deepEqual(await fetchManifest(dst, "plain/app", "1.0"), img.manifest.bytes);
    assert.equal(await fetchManifest(dst, "plain/app", sig.manifest.digest.toString()), undefined);
    assert.equal(await fetchManifest(dst, "plain/app", `sha256-${hex}`), undefined);
    assert.equal(await fetchManifest(dst, "plain/app", `sha256-${hex}.sig`), undefined);
    assert.deepEqual(await listTags(dst, "plain/app"), ["1.0"]);
  });

  it("into an OCI layout: the tag schema as ref.names, the artifact in blobs/, readable by skopeo", async () => {
    const dir = join(makeTempDir("dray-cli-copy-ref-"), "app");
    const r = await dray(["copy", "-q", "--referrers", `docker://${src.host}/app:1.0`, `oci:${dir}:1.0`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${img.manifest.digest}\n`);
    assert.equal(r.stderr, "", "quiet: nothing on stderr");
    assert.deepEqual(await skopeoInspectRaw(`oci:${dir}:1.0`), img.manifest.bytes);
    assert.deepEqual(await skopeoInspectRaw(`oci:${dir}:sha256-${hex}`), index.bytes);
    assert.deepEqual(await skopeoInspectRaw(`oci:${dir}:sha256-${hex}.sig`), cosign.manifest.bytes);
    assert.deepEqual(await readFile(join(dir, sig.manifest.digest.blobPath)), sig.manifest.bytes);
    const ls = await dray(["ls", `oci:${dir}`]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual(ls.stdout.split("\n").filter(Boolean).sort(), ["1.0", `sha256-${hex}`, `sha256-${hex}.sig`].sort());
  });

  it("into an OCI layout without --referrers: only the image's tag", async () => {
    const dir = join(makeTempDir("dray-cli-copy-noref-"), "app");
    const r = await dray(["copy", "-q", `docker://${src.host}/app:1.0`, `oci:${dir}:1.0`]);
    assert.equal(r.code, 0, r.stderr);
    const ls = await dray(["ls", `oci:${dir}`]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual(ls.stdout.split("\n").filter(Boolean), ["1.0"]);
    await assert.rejects(readFile(join(dir, sig.manifest.digest.blobPath)), { code: "ENOENT" });
  });
});
