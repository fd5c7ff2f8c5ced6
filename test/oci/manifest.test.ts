// Manifest, index and descriptor parsing: exact bytes, every media type dray
// reads, and refusal of documents whose type, shape or digests do not hold up.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { isDrayError, type ErrorCode } from "../../src/errors.js";
import { Digest } from "../../src/oci/digest.js";
import {
  MAX_MANIFEST_BYTES,
  descriptorOf,
  descriptorToJSON,
  parseDescriptor,
  parseImageConfig,
  parseManifest,
  parseRawManifest,
  rawManifestFromDocument,
  type RawManifest,
} from "../../src/oci/manifest.js";
import { MediaType, isIndexType, isManifestType, layerCompression, uncompressedLayerType } from "../../src/oci/mediatype.js";

type Json = Record<string, unknown>;

const EMPTY_JSON = Buffer.from("{}");
const EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

function desc(mediaType: string, content: string, extra: Json = {}): Json {
  const bytes = Buffer.from(content);
  return { mediaType, digest: Digest.of(bytes).toString(), size: bytes.length, ...extra };
}

const CONFIG = desc(MediaType.OciConfig, '{"architecture":"amd64","os":"linux"}');
const LAYER = desc(MediaType.OciLayerGzip, "layer-1");

function ociManifest(extra: Json = {}): Json {
  return { schemaVersion: 2, mediaType: MediaType.OciManifest, config: CONFIG, layers: [LAYER], ...extra };
}

function ociIndex(extra: Json = {}): Json {
  return {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [
      desc(MediaType.OciManifest, "m-amd64", { platform: { os: "linux", architecture: "amd64" } }),
      desc(MediaType.OciManifest, "m-arm64", { platform: { os: "linux", architecture: "arm64", variant: "v8" } }),
    ],
    ...extra,
  };
}

function bytesOf(doc: unknown): Buffer {
  return Buffer.from(JSON.stringify(doc));
}

function rejects(code: ErrorCode, fn: () => unknown, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    if (!isDrayError(e, code)) return false;
    if (e.message.includes("\n")) return false;
    return message === undefined || message.test(e.message);
  });
}

describe("RawManifest keeps exact bytes", () => {
  it("a hand-formatted document keeps its digest through parseRawManifest", () => {
    // Whitespace and key order differ from what JSON.stringify would give: the digest covers these bytes.
    const text = `{\n   "schemaVersion" : 2,\n\t"layers":[ ${JSON.stringify(LAYER)} ],"config": ${JSON.stringify(CONFIG)},\n "mediaType":"${MediaType.OciManifest}"  }\n`;
    const bytes = Buffer.from(text);
    const raw: RawManifest = { bytes, mediaType: MediaType.OciManifest, digest: Digest.of(bytes) };
    const parsed = parseRawManifest(raw);
    assert.equal(parsed.kind, "manifest");
    assert.equal(raw.bytes.toString(), text);
    assert.ok(Digest.of(raw.bytes).equals(raw.digest));
    const d = descriptorOf(raw, { platform: { os: "linux", architecture: "amd64" } });
    assert.equal(d.size, bytes.length);
    assert.equal(d.digest.toString(), Digest.of(bytes).toString());
    assert.deepEqual(d.platform, { os: "linux", architecture: "amd64" });
  });

  it("a byte changed after digesting is a digest mismatch", () => {
    const bytes = bytesOf(ociManifest());
    const digest = Digest.of(bytes);
    const tampered = Buffer.from(bytes);
    tampered[tampered.length - 2] = " ".charCodeAt(0);
    rejects("E_DIGEST_MISMATCH", () => parseRawManifest({ bytes: tampered, mediaType: MediaType.OciManifest, digest }));
  });

  it("rawManifestFromDocument digests the bytes it produces", () => {
    const raw = rawManifestFromDocument(ociIndex(), MediaType.OciIndex);
    assert.ok(Digest.of(raw.bytes).equals(raw.digest));
    const parsed = parseRawManifest(raw);
    assert.equal(parsed.kind, "index");
    assert.deepEqual(JSON.parse(raw.bytes.toString()), ociIndex());
  });

  it("descriptors survive parse and serialisation field for field", () => {
    const full = desc(MediaType.OciLayerZstd, "z", {
      urls: ["https://example.com/blob"],
      annotations: { "org.opencontainers.image.title": "z.tar.zst" },
      platform: { os: "windows", architecture: "amd64", "os.version": "10.0.17763.1", "os.features": ["win32k"] },
      artifactType: "application/vnd.example+type",
    });
    assert.deepEqual(descriptorToJSON(parseDescriptor(full)), full);
  });
});

describe("media types dray reads", () => {
  const cases: Array<[string, Json, string | undefined, "manifest" | "index"]> = [
    ["OCI manifest, gzip layers", ociManifest(), MediaType.OciManifest, "manifest"],
    [
      "OCI manifest, zstd and uncompressed layers",
      ociManifest({ layers: [desc(MediaType.OciLayerZstd, "z"), desc(MediaType.OciLayer, "t")] }),
      MediaType.OciManifest,
      "manifest",
    ],
    [
      "OCI manifest, non-distributable layers",
      ociManifest({ layers: [desc(MediaType.OciLayerNondistributableGzip, "n", { urls: ["https://example.com/n"] })] }),
      MediaType.OciManifest,
      "manifest",
    ],
    [
      "Docker schema 2 manifest",
      {
        schemaVersion: 2,
        mediaType: MediaType.DockerManifest,
        config: desc(MediaType.DockerConfig, "{}"),
        layers: [desc(MediaType.DockerLayerGzip, "d1"), desc(MediaType.DockerForeignLayerGzip, "d2", { urls: ["https://x/y"] })],
      },
      MediaType.DockerManifest,
      "manifest",
    ],
    ["OCI index", ociIndex(), MediaType.OciIndex, "index"],
    [
      "Docker manifest list",
      {
        schemaVersion: 2,
        mediaType: MediaType.DockerManifestList,
        manifests: [desc(MediaType.DockerManifest, "x", { platform: { os: "linux", architecture: "arm", variant: "v7" } })],
      },
      MediaType.DockerManifestList,
      "index",
    ],
    ["OCI manifest without mediaType (shape decides)", { schemaVersion: 2, config: CONFIG, layers: [LAYER] }, undefined, "manifest"],
    ["OCI index without mediaType (shape decides)", { schemaVersion: 2, manifests: [] }, undefined, "index"],
    [
      "artifact: artifactType, empty config, empty layer, subject",
      ociManifest({
        artifactType: "application/vnd.example.sbom.v1+json",
        config: { mediaType: MediaType.OciEmpty, digest: EMPTY_DIGEST, size: 2, data: "e30=" },
        layers: [{ mediaType: MediaType.OciEmpty, digest: EMPTY_DIGEST, size: 2 }],
        subject: desc(MediaType.OciManifest, "the image"),
        annotations: { "org.opencontainers.image.created": "2024-01-01T00:00:00Z" },
      }),
      MediaType.OciManifest,
      "manifest",
    ],
    [
      "artifact with a blob layer and no layers of its own kind",
      ociManifest({
        config: { mediaType: "application/vnd.cncf.helm.config.v1+json", digest: Digest.of("c").toString(), size: 1 },
        layers: [desc("application/vnd.cncf.helm.chart.content.v1.tar+gzip", "chart")],
      }),
      MediaType.OciManifest,
      "manifest",
    ],
    [
      "index with artifactType and subject",
      ociIndex({ artifactType: "application/vnd.example+json", subject: desc(MediaType.OciIndex, "parent") }),
      MediaType.OciIndex,
      "index",
    ],
  ];
  for (const [name, doc, declared, kind] of cases) {
    it(name, () => {
      const parsed = parseManifest(bytesOf(doc), declared);
      assert.equal(parsed.kind, kind);
      assert.equal(
        parsed.mediaType,
        (doc.mediaType as string | undefined) ?? (kind === "index" ? MediaType.OciIndex : MediaType.OciManifest),
      );
      if (parsed.kind === "manifest") {
        assert.equal(parsed.config.digest.toString(), (doc.config as Json).digest);
        assert.equal(parsed.layers.length, (doc.layers as unknown[]).length);
      } else {
        assert.equal(parsed.manifests.length, (doc.manifests as unknown[]).length);
      }
      if (doc.subject) assert.equal(parsed.subject?.digest.toString(), (doc.subject as Json).digest);
      assert.equal(parsed.artifactType, doc.artifactType);
    });
  }

  it("the empty config is the digest of {}", () => {
    assert.equal(Digest.of(EMPTY_JSON).toString(), EMPTY_DIGEST);
  });

  it("layer compression by media type, zstd included", () => {
    const table: Array<[string, string | undefined]> = [
      [MediaType.OciLayer, "none"],
      [MediaType.OciLayerGzip, "gzip"],
      [MediaType.OciLayerZstd, "zstd"],
      [MediaType.OciLayerNondistributable, "none"],
      [MediaType.OciLayerNondistributableGzip, "gzip"],
      [MediaType.OciLayerNondistributableZstd, "zstd"],
      [MediaType.DockerLayer, "none"],
      [MediaType.DockerLayerGzip, "gzip"],
      [MediaType.DockerForeignLayerGzip, "gzip"],
      [MediaType.OciConfig, undefined],
      [MediaType.OciEmpty, undefined],
      ["application/vnd.cncf.helm.chart.content.v1.tar+gzip", undefined],
    ];
    for (const [mt, c] of table) assert.equal(layerCompression(mt), c, mt);
    assert.equal(uncompressedLayerType(MediaType.DockerLayerGzip), MediaType.DockerLayer);
    assert.equal(uncompressedLayerType(MediaType.OciLayerZstd), MediaType.OciLayer);
  });

  it("classifies manifest and index types", () => {
    assert.ok(isManifestType(MediaType.OciManifest) && isManifestType(MediaType.DockerManifest));
    assert.ok(isIndexType(MediaType.OciIndex) && isIndexType(MediaType.DockerManifestList));
    assert.ok(!isManifestType(MediaType.OciIndex) && !isIndexType(MediaType.OciManifest));
    assert.ok(!isManifestType(MediaType.DockerSchema1));
  });
});

describe("mediaType against shape", () => {
  const cases: Array<[string, Json]> = [
    ["index type with config", ociIndex({ config: CONFIG })],
    ["index type with layers", ociIndex({ layers: [LAYER] })],
    ["index type without manifests", { schemaVersion: 2, mediaType: MediaType.OciIndex }],
    [
      "manifest list type with a config and layers",
      { schemaVersion: 2, mediaType: MediaType.DockerManifestList, config: CONFIG, layers: [LAYER] },
    ],
    ["manifest type with manifests", ociManifest({ manifests: [] })],
    ["manifest type without config", { schemaVersion: 2, mediaType: MediaType.OciManifest, layers: [LAYER] }],
    ["Docker manifest type shaped as an index", { schemaVersion: 2, mediaType: MediaType.DockerManifest, manifests: [] }],
    ["both layers and manifests, no mediaType", { schemaVersion: 2, config: CONFIG, layers: [LAYER], manifests: [] }],
    ["manifests that are not an array", ociIndex({ manifests: {} })],
    ["layers that are not an array", ociManifest({ layers: "x" })],
    ["config that is not a descriptor", ociManifest({ config: "sha256:x" })],
    ["mediaType that is not a string", ociManifest({ mediaType: 42 })],
    ["schemaVersion missing", { mediaType: MediaType.OciManifest, config: CONFIG, layers: [] }],
    ["schemaVersion 3", ociManifest({ schemaVersion: 3 })],
    ["schemaVersion as a string", ociManifest({ schemaVersion: "2" })],
    ["artifactType that is not a media type", ociManifest({ artifactType: "not a type" })],
    ["annotations that are not strings", ociManifest({ annotations: { a: 1 } })],
  ];
  for (const [name, doc] of cases) {
    it(`rejects ${name}`, () => rejects("E_MANIFEST_INVALID", () => parseManifest(bytesOf(doc))));
  }

  it("rejects an unknown manifest media type as unsupported", () => {
    const doc = ociManifest({ mediaType: "application/vnd.oci.artifact.manifest.v1+json" });
    rejects("E_UNSUPPORTED_MEDIA_TYPE", () => parseManifest(bytesOf(doc)), /unsupported manifest media type/);
  });
});

describe("declared Content-Type against the document", () => {
  it("rejects an OCI manifest served as an index", () => {
    rejects("E_MANIFEST_INVALID", () => parseManifest(bytesOf(ociManifest()), MediaType.OciIndex), /disagrees/);
  });
  it("rejects an index served as a manifest", () => {
    rejects("E_MANIFEST_INVALID", () => parseManifest(bytesOf(ociIndex()), MediaType.OciManifest), /disagrees/);
  });
  it("rejects an OCI manifest served as a Docker manifest", () => {
    rejects("E_MANIFEST_INVALID", () => parseManifest(bytesOf(ociManifest()), MediaType.DockerManifest), /disagrees/);
  });
  it("rejects a document without mediaType whose shape disagrees with the declared type", () => {
    rejects("E_MANIFEST_INVALID", () => parseManifest(bytesOf({ schemaVersion: 2, manifests: [] }), MediaType.OciManifest));
    rejects("E_MANIFEST_INVALID", () =>
      parseManifest(bytesOf({ schemaVersion: 2, config: CONFIG, layers: [] }), MediaType.DockerManifestList),
    );
  });
  it("takes a document without mediaType to be what was declared when the shape agrees", () => {
    const parsed = parseManifest(bytesOf({ schemaVersion: 2, config: CONFIG, layers: [] }), MediaType.DockerManifest);
    assert.equal(parsed.mediaType, MediaType.DockerManifest);
  });
  it("ignores Content-Type parameters", () => {
    const parsed = parseManifest(bytesOf(ociManifest()), `${MediaType.OciManifest}; charset=utf-8`);
    assert.equal(parsed.mediaType, MediaType.OciManifest);
  });
  it("lets the document decide when the declaration is generic", () => {
    for (const generic of ["application/json", "application/octet-stream", "text/plain; charset=utf-8"]) {
      assert.equal(parseManifest(bytesOf(ociIndex()), generic).kind, "index");
      assert.equal(parseManifest(bytesOf({ schemaVersion: 2, manifests: [] }), generic).mediaType, MediaType.OciIndex);
    }
  });
});

describe("Docker schema 1", () => {
  const schema1 = {
    schemaVersion: 1,
    name: "library/hello",
    tag: "latest",
    architecture: "amd64",
    fsLayers: [{ blobSum: Digest.of("x").toString() }],
    history: [{ v1Compatibility: "{}" }],
  };
  it("is refused with a clear message by schemaVersion", () => {
    rejects("E_UNSUPPORTED_MEDIA_TYPE", () => parseManifest(bytesOf(schema1)), /schema 1 manifests are not supported/);
  });
  it("is refused by declared media type", () => {
    rejects("E_UNSUPPORTED_MEDIA_TYPE", () => parseManifest(bytesOf(schema1), MediaType.DockerSchema1Signed), /schema 1/);
    rejects(
      "E_UNSUPPORTED_MEDIA_TYPE",
      () => parseManifest(bytesOf(ociManifest({ mediaType: undefined })), MediaType.DockerSchema1),
      /schema 1/,
    );
  });
  it("is refused by the document's mediaType", () => {
    rejects("E_UNSUPPORTED_MEDIA_TYPE", () => parseManifest(bytesOf({ ...schema1, mediaType: MediaType.DockerSchema1 })), /schema 1/);
  });
});

describe("Docker schema 2 layer media types (issue 27 item 23, as containers/image's SupportedSchema2MediaType)", () => {
  // containers/image's own schema 2 fixture (test/peers/containers-image/internal/manifest/testdata/).
  const fixture = readFileSync(
    fileURLToPath(new URL("../../../test/peers/containers-image/internal/manifest/testdata/v2s2.manifest.json", import.meta.url)),
  );
  const withLayerType = (mediaType: string): Buffer => {
    const doc = JSON.parse(fixture.toString()) as { layers: Json[] };
    doc.layers[1]!.mediaType = mediaType;
    return Buffer.from(JSON.stringify(doc));
  };
  it("the fixture as it is, and Docker's other layer types, are read", () => {
    assert.equal(parseManifest(fixture).kind, "manifest");
    for (const t of [MediaType.DockerLayer, MediaType.DockerForeignLayer, MediaType.DockerForeignLayerGzip])
      assert.equal(parseManifest(withLayerType(t)).kind, "manifest", t);
  });
  for (const t of [
    "application/octet-stream",
    "application/vnd.docker.image.rootfs.diff.tar.zstd",
    MediaType.OciLayerZstd,
    MediaType.OciLayerGzip,
    "application/vnd.docker.image.rootfs.foreign.diff.unknown",
  ]) {
    it(`a layer typed ${t} is refused (exit 5)`, () => {
      rejects("E_UNSUPPORTED_MEDIA_TYPE", () => parseManifest(withLayerType(t)), /a Docker schema 2 manifest cannot carry a layer of type/);
    });
  }
  it("an OCI manifest keeps any layer type (artifacts)", () => {
    assert.equal(parseManifest(bytesOf(ociManifest({ layers: [desc("application/octet-stream", "x")] }))).kind, "manifest");
  });
});

describe("descriptor digests, sizes and media types", () => {
  const badDigests: unknown[] = [
    "sha256:../../x",
    `sha256:${"A".repeat(64)}`,
    `sha256:${"a".repeat(63)}`,
    `sha512:${"a".repeat(64)}`,
    `md5:${"a".repeat(32)}`,
    `sha256:${"a".repeat(64)}/../x`,
    `sha256:${"a".repeat(64)}\n`,
    "",
    42,
    null,
  ];
  for (const digest of badDigests) {
    const label = JSON.stringify(digest)?.slice(0, 30);
    it(`rejects digest ${label} in config, layers, manifests and subject`, () => {
      const bad = { ...LAYER, digest };
      rejects("E_MANIFEST_INVALID", () => parseManifest(bytesOf(ociManifest({ config: bad }))));
      rejects("E_MANIFEST_INVALID", () => parseManifest(bytesOf(ociManifest({ layers: [LAYER, bad] }))));
      rejects("E_MANIFEST_INVALID", () => parseManifest(bytesOf(ociIndex({ manifests: [bad] }))));
      rejects("E_MANIFEST_INVALID", () => parseManifest(bytesOf(ociManifest({ subject: bad }))));
    });
  }

  const badSizes: unknown[] = [-1, 1.5, "12", Number.MAX_SAFE_INTEGER + 2, null, undefined];
  for (const size of badSizes) {
    it(`rejects size ${String(size)}`, () => {
      rejects("E_MANIFEST_INVALID", () => parseDescriptor({ ...LAYER, size }));
    });
  }

  const badTypes: unknown[] = [undefined, "", "layer", "../../etc/passwd", "text/plain\r\nX-Injected: 1", "text/plain; charset=utf-8", 7];
  for (const mediaType of badTypes) {
    it(`rejects descriptor mediaType ${JSON.stringify(mediaType)}`, () => {
      rejects("E_MANIFEST_INVALID", () => parseDescriptor({ ...LAYER, mediaType }));
    });
  }

  it("rejects descriptors that are not objects, bad urls and bad platforms", () => {
    for (const v of [null, [], "x", 1]) rejects("E_MANIFEST_INVALID", () => parseDescriptor(v));
    rejects("E_MANIFEST_INVALID", () => parseDescriptor({ ...LAYER, urls: "https://x" }));
    rejects("E_MANIFEST_INVALID", () => parseDescriptor({ ...LAYER, urls: [1] }));
    rejects("E_MANIFEST_INVALID", () => parseDescriptor({ ...LAYER, platform: { os: "linux" } }));
    rejects("E_MANIFEST_INVALID", () => parseDescriptor({ ...LAYER, artifactType: "x" }));
  });

  it("puts no raw newline of a hostile digest into the message", () => {
    rejects("E_MANIFEST_INVALID", () => parseDescriptor({ ...LAYER, digest: "sha256:x\nInjected: yes" }), /\\n/);
  });
});

describe("size and encoding", () => {
  it(`accepts a manifest of exactly ${MAX_MANIFEST_BYTES} bytes`, () => {
    const base = bytesOf(ociManifest());
    const padded = Buffer.concat([base, Buffer.alloc(MAX_MANIFEST_BYTES - base.length, " ")]);
    assert.equal(padded.length, MAX_MANIFEST_BYTES);
    assert.equal(parseManifest(padded).kind, "manifest");
  });
  it("refuses one byte more with E_TOO_LARGE, before parsing", () => {
    // Not even JSON: the size check must come first.
    rejects("E_TOO_LARGE", () => parseManifest(Buffer.alloc(MAX_MANIFEST_BYTES + 1, "x")), /exceeds/);
  });
  const garbage: Array<[string, Buffer]> = [
    ["empty input", Buffer.alloc(0)],
    ["not JSON", Buffer.from("<html>502 Bad Gateway</html>")],
    ["a JSON array", Buffer.from("[]")],
    ["a JSON string", Buffer.from('"manifest"')],
    ["null", Buffer.from("null")],
    ["truncated JSON", bytesOf(ociManifest()).subarray(0, 40)],
    ["invalid UTF-8", Buffer.concat([Buffer.from('{"schemaVersion":2,"x":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')])],
    ["a byte-order mark", Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytesOf(ociManifest())])],
    ["deep nesting", Buffer.from("[".repeat(200_000) + "]".repeat(200_000))],
  ];
  for (const [name, bytes] of garbage) {
    it(`rejects ${name}`, () => rejects("E_MANIFEST_INVALID", () => parseManifest(bytes)));
  }
});

describe("image config", () => {
  it("reads a config with valid diff_ids", () => {
    const cfg = { architecture: "arm64", os: "linux", variant: "v8", rootfs: { type: "layers", diff_ids: [Digest.of("t").toString()] } };
    assert.deepEqual(parseImageConfig(bytesOf(cfg)), cfg);
  });
  it("rejects diff_ids that are not valid digests", () => {
    rejects("E_MANIFEST_INVALID", () => parseImageConfig(bytesOf({ rootfs: { type: "layers", diff_ids: ["sha256:../../x"] } })));
    rejects("E_MANIFEST_INVALID", () => parseImageConfig(bytesOf({ rootfs: { type: "layers" } })));
    rejects("E_MANIFEST_INVALID", () => parseImageConfig(Buffer.from("[1]")));
  });
});
