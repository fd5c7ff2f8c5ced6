#!/usr/bin/env node
// Builds examples/hello: a tiny two-platform image (linux/amd64, linux/arm64) as an
// OCI image layout, byte-for-byte reproducible, so the README's first command has
// something real to copy without any network. Run: node scripts/make-example.mjs
import { createHash } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";

const OUT = "examples/hello";
const MTIME = new Date("2026-01-01T00:00:00Z");
const sha256 = (b) => createHash("sha256").update(b).digest("hex");

function tarOf(entries) {
  return new Promise((resolve, reject) => {
    const pack = tar.pack();
    const chunks = [];
    pack.on("data", (c) => chunks.push(c));
    pack.on("end", () => resolve(Buffer.concat(chunks)));
    pack.on("error", reject);
    for (const e of entries) {
      const header = { name: e.name, mtime: MTIME, uid: 0, gid: 0, uname: "root", gname: "root" };
      if (e.dir) pack.entry({ ...header, type: "directory", mode: 0o755 });
      else pack.entry({ ...header, mode: e.mode ?? 0o644 }, e.body);
    }
    pack.finalize();
  });
}

const blobs = new Map();
function putBlob(bytes) {
  const hex = sha256(bytes);
  blobs.set(hex, bytes);
  return `sha256:${hex}`;
}
const json = (o) => Buffer.from(JSON.stringify(o));

async function image(arch, variant) {
  const platformText = variant ? `linux/${arch}/${variant}` : `linux/${arch}`;
  const layer = await tarOf([
    { name: "etc/", dir: true },
    { name: "etc/hello.txt", body: `Hello from dray, ${platformText}!\n` },
    { name: "usr/", dir: true },
    { name: "usr/share/", dir: true },
    { name: "usr/share/dray/", dir: true },
    { name: "usr/share/dray/README", body: "This image exists so dray's README has something to copy.\n" },
  ]);
  const gz = gzipSync(layer, { level: 9 });
  const layerDigest = putBlob(gz);
  const config = {
    created: MTIME.toISOString(),
    architecture: arch,
    ...(variant ? { variant } : {}),
    os: "linux",
    config: {
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      Cmd: ["/bin/cat", "/etc/hello.txt"],
      Labels: { "org.opencontainers.image.title": "hello", "org.opencontainers.image.source": "dray examples" },
    },
    rootfs: { type: "layers", diff_ids: [`sha256:${sha256(layer)}`] },
    history: [{ created: MTIME.toISOString(), created_by: "dray scripts/make-example.mjs" }],
  };
  const configBytes = json(config);
  const manifest = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: putBlob(configBytes), size: configBytes.length },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layerDigest, size: gz.length }],
  };
  const manifestBytes = json(manifest);
  return {
    mediaType: manifest.mediaType,
    digest: putBlob(manifestBytes),
    size: manifestBytes.length,
    platform: { architecture: arch, os: "linux", ...(variant ? { variant } : {}) },
  };
}

const entries = [await image("amd64"), await image("arm64", "v8")];
const indexBytes = json({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: entries });
const indexDigest = putBlob(indexBytes);

rmSync(OUT, { recursive: true, force: true });
mkdirSync(join(OUT, "blobs", "sha256"), { recursive: true });
for (const [hex, bytes] of blobs) writeFileSync(join(OUT, "blobs", "sha256", hex), bytes);
writeFileSync(join(OUT, "oci-layout"), json({ imageLayoutVersion: "1.0.0" }));
writeFileSync(
  join(OUT, "index.json"),
  json({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [
      {
        mediaType: "application/vnd.oci.image.index.v1+json",
        digest: indexDigest,
        size: indexBytes.length,
        annotations: { "org.opencontainers.image.ref.name": "latest" },
      },
    ],
  }),
);
console.log(`${OUT}: ${indexDigest}`);
