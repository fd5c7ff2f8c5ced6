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
import { Digest } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/mediatype.js";
import { buildImage, type BuiltImage } from "../helpers/fixtures.js";
import { startHostileRegistry } from "../helpers/hostile-registry.js";
import { startProxy } from "../helpers/proxy.js";
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

  it("a destination whose sha256-<hex> tag answers 404 after each PUT: the read-back stops after its attempts, says so, exit 1", async () => {
    const proxy = await startProxy(dst);
    const notFound = '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}';
    proxy.addRule({ method: ["GET", "HEAD"], path: `/manifests/sha256-${hex}`, action: { kind: "status", status: 404, body: notFound } });
    try {
      const r = await dray(["copy", "--referrers", `docker://${src.host}/app:1.0`, `docker://${proxy.host}/vanishing/app:1.0`]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `vanishing/app:sha256-${hex}: the referrers index was written 6 times but is not there when read back; ${sig.manifest.digest} is not listed`,
        ),
      );
      assert.doesNotMatch(r.stderr, /another writer/);
      assert.equal(proxy.count("PUT", `/manifests/sha256-${hex}`) - proxy.count("PUT", `/manifests/sha256-${hex}.sig`), 6);
    } finally {
      await proxy.stop();
    }
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

describe("dray copy --referrers from a repository whose tag list answers 404 NAME_UNKNOWN", () => {
  it("reads it as no tags, as dray referrers does: the image and its referrer (referrers API) arrive, exit 0", async () => {
    const reg = await startHostileRegistry();
    try {
      const img = await buildImage({ seed: "tags-404" });
      for (const b of [img.config, ...img.layers]) reg.blob("hidden/app", b.bytes);
      reg.manifest("hidden/app", img.manifest.bytes, img.manifest.mediaType, "v1");
      const empty = Buffer.from("{}");
      const scan = Buffer.from("scan of tags-404\n");
      reg.blob("hidden/app", empty);
      reg.blob("hidden/app", scan);
      const artifact = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          artifactType: "application/vnd.example.scan+text",
          config: { mediaType: "application/vnd.oci.empty.v1+json", digest: Digest.of(empty).toString(), size: empty.length },
          layers: [{ mediaType: "text/plain", digest: Digest.of(scan).toString(), size: scan.length }],
          subject: { mediaType: img.manifest.mediaType, digest: img.manifest.digest.toString(), size: img.manifest.bytes.length },
        }),
      );
      const a = reg.manifest("hidden/app", artifact, MediaType.OciManifest);
      reg.referrers("hidden/app", (d) =>
        d === img.manifest.digest.toString()
          ? Buffer.from(
              JSON.stringify({
                schemaVersion: 2,
                mediaType: MediaType.OciIndex,
                manifests: [
                  {
                    mediaType: MediaType.OciManifest,
                    digest: a.toString(),
                    size: artifact.length,
                    artifactType: "application/vnd.example.scan+text",
                  },
                ],
              }),
            )
          : Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] })),
      );
      const out = join(makeTempDir(), "layout");
      const r = await dray(["copy", "--referrers", `docker://${reg.host}/hidden/app:v1`, `oci:${out}:v1`]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(reg.count("GET /v2/hidden/app/tags/list") >= 1, "the tag list was asked");
      assert.match(r.stderr, new RegExp(`referrer ${a.toString()} \\(application/vnd\\.example\\.scan\\+text\\): copied`));
      assert.deepEqual(await readFile(join(out, "blobs", "sha256", a.hex)), artifact);
    } finally {
      await reg.stop();
    }
  });
});

describe("dray copy --referrers past the run's cap of 10000 referrers", () => {
  it("says so once, not once for each list that arrives after it: 30 artifacts, each listing 1000 (the 30 again and again)", async () => {
    const reg = await startHostileRegistry();
    try {
      const img = await buildImage({ seed: "cap-once" });
      for (const b of [img.config, ...img.layers]) reg.blob("wide/app", b.bytes);
      reg.manifest("wide/app", img.manifest.bytes, img.manifest.mediaType, "v1");
      const empty = Buffer.from("{}");
      const emptyDesc = { mediaType: MediaType.OciEmpty, digest: reg.blob("wide/app", empty).toString(), size: empty.length };
      const subject = { mediaType: img.manifest.mediaType, digest: img.manifest.digest.toString(), size: img.manifest.bytes.length };
      const artifacts = Array.from({ length: 30 }, (_, i) => {
        const bytes = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: MediaType.OciManifest,
            artifactType: "application/vnd.example.scan+text",
            config: emptyDesc,
            layers: [emptyDesc],
            subject,
            annotations: { "org.example.n": String(i) },
          }),
        );
        const digest = reg.manifest("wide/app", bytes, MediaType.OciManifest);
        return {
          mediaType: MediaType.OciManifest,
          digest: digest.toString(),
          size: bytes.length,
          artifactType: "application/vnd.example.scan+text",
        };
      });
      // 1000 entries (the most one list may hold), the 30 artifacts over and over: each list counts 1000 against the cap.
      const listed = Array.from({ length: 1000 }, (_, i) => artifacts[i % artifacts.length]);
      const all = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: listed }));
      reg.referrers("wide/app", () => all);
      const out = join(makeTempDir(), "layout");
      const r = await dray(["copy", "--referrers", `docker://${reg.host}/wide/app:v1`, `oci:${out}:v1`], { timeoutMs: 300_000 });
      assert.equal(r.code, 1, r.stderr.slice(-2000));
      // The image's referrers arrived; the 10th list of 1000 spent the cap, and the 20 lists after it are not each a failure.
      assert.match(r.stderr, /^referrer sha256:\S+ \(application\/vnd\.example\.scan\+text\): copied$/m);
      const capLines = r.stderr.split("\n").filter((l) => l.includes("more than 10000 referrers in one run"));
      assert.equal(capLines.length, 1, capLines.slice(0, 3).join("\n"));
    } finally {
      await reg.stop();
    }
  });
});
