import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GO_ZERO_TIME, goTime, summariseImage, summariseIndex } from "../../src/inspect/summary.js";
import { Digest } from "../../src/oci/digest.js";
import type { ImageIndex, ImageManifest } from "../../src/oci/manifest.js";
import { MediaType } from "../../src/oci/mediatype.js";

const D = (s: string): Digest => Digest.of(s);

function manifest(mediaType: string): ImageManifest {
  return {
    kind: "manifest",
    mediaType,
    schemaVersion: 2,
    config: { mediaType: MediaType.OciConfig, digest: D("c"), size: 2 },
    layers: [{ mediaType: MediaType.OciLayerGzip, digest: D("l"), size: 7, annotations: { z: "1", a: "2" } }],
  };
}

describe("goTime: timestamps as Go's time.Time marshals them (what skopeo prints)", () => {
  it("drops trailing fraction zeros, keeps offsets, writes Z for UTC", () => {
    assert.equal(goTime("2024-01-01T00:00:00Z"), "2024-01-01T00:00:00Z");
    assert.equal(goTime("2024-01-01T00:00:00.000000000Z"), "2024-01-01T00:00:00Z");
    assert.equal(goTime("2024-05-06T07:08:09.120000+02:00"), "2024-05-06T07:08:09.12+02:00");
    assert.equal(goTime("2024-05-06t07:08:09.5+00:00"), "2024-05-06T07:08:09.5Z");
    assert.equal(goTime("2024-05-06T07:08:09.1234567891Z"), "2024-05-06T07:08:09.123456789Z");
    assert.equal(goTime("yesterday"), "yesterday");
  });
});

describe("summariseImage", () => {
  const ctx = { digest: D("m"), repoTags: ["a"] };

  it("null-versus-missing: OCI without created is null, Docker is Go's zero time; Labels/Env null; strings empty", () => {
    const oci = summariseImage(ctx, manifest(MediaType.OciManifest), {});
    assert.equal(oci.Created, null);
    assert.equal(oci.Labels, null);
    assert.equal(oci.Env, null);
    assert.equal(oci.DockerVersion, "");
    assert.equal(oci.Architecture, "");
    assert.equal(oci.Os, "");
    assert.ok(!("Name" in oci));
    assert.ok(!("Variant" in oci));
    assert.equal(summariseImage(ctx, manifest(MediaType.DockerManifest), {}).Created, GO_ZERO_TIME);
  });

  it("field order is skopeo's, Variant after Architecture, maps sorted by key", () => {
    const s = summariseImage({ ...ctx, name: "r.example/x" }, manifest(MediaType.OciManifest), {
      architecture: "arm",
      variant: "v7",
      os: "linux",
      config: { Labels: { b: "1", a: "2" }, Env: ["A=1"] },
    });
    assert.deepEqual(Object.keys(s), [
      "Name",
      "Digest",
      "RepoTags",
      "Created",
      "DockerVersion",
      "Labels",
      "Architecture",
      "Variant",
      "Os",
      "Layers",
      "LayersData",
      "Env",
    ]);
    assert.deepEqual(Object.keys(s.Labels!), ["a", "b"]);
    assert.deepEqual(s.LayersData, [
      { MIMEType: MediaType.OciLayerGzip, Digest: D("l").toString(), Size: 7, Annotations: { a: "2", z: "1" } },
    ]);
  });
});

describe("summariseIndex", () => {
  it("lists each entry's digest, media type, size and platform (null when absent)", () => {
    const index: ImageIndex = {
      kind: "index",
      mediaType: MediaType.OciIndex,
      schemaVersion: 2,
      manifests: [
        { mediaType: MediaType.OciManifest, digest: D("1"), size: 10, platform: { os: "linux", architecture: "amd64" } },
        {
          mediaType: MediaType.OciManifest,
          digest: D("2"),
          size: 20,
          annotations: { "vnd.docker.reference.type": "attestation-manifest" },
        },
      ],
    };
    const s = summariseIndex({ digest: D("i"), repoTags: [] }, index);
    assert.deepEqual(s, {
      Digest: D("i").toString(),
      RepoTags: [],
      MediaType: MediaType.OciIndex,
      Manifests: [
        { Digest: D("1").toString(), MediaType: MediaType.OciManifest, Size: 10, Platform: { Os: "linux", Architecture: "amd64" } },
        {
          Digest: D("2").toString(),
          MediaType: MediaType.OciManifest,
          Size: 20,
          Platform: null,
          Annotations: { "vnd.docker.reference.type": "attestation-manifest" },
        },
      ],
    });
  });
});
