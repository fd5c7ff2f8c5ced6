// Signature artifacts as signers store them, around signature bytes made by
// others (cosign's and containers/image's fixtures, openssl, @sigstore/sign):
// a cosign `sha256-<hex>.sig` simple-signing manifest, a Sigstore bundle as an
// OCI 1.1 referrer (what cosign 3 writes) with the tag schema's index, a
// notation JWS envelope. Stored in an OCI layout (ref names) or a registry.
import { execFileSync } from "node:child_process";
import { createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Digest } from "../../src/oci/digest.js";
import type { RawManifest } from "../../src/oci/manifest.js";
import { MediaType } from "../../src/oci/mediatype.js";
import { bundleFromJSON } from "@sigstore/bundle";
import { toSignedEntity, Verifier } from "@sigstore/verify";
import { emptyTrustMaterial } from "../../src/signature/trust.js";
import { TestRegistryClient, type RegistryTarget } from "../helpers/http.js";

export const FIXTURES = new URL("../../../test/fixtures/signature/", import.meta.url).pathname;
export const BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json";

export interface Blob {
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
}

/** A manifest with the blobs it needs, and where it goes (a tag, or by digest). */
export interface Stored {
  manifest: RawManifest;
  blobs: Blob[];
  tag?: string;
}

export function blob(bytes: Buffer, mediaType: string): Blob {
  return { bytes, mediaType, digest: Digest.of(bytes) };
}

const desc = (b: { mediaType: string; digest: Digest; bytes: Buffer }): Record<string, unknown> => ({
  mediaType: b.mediaType,
  digest: b.digest.toString(),
  size: b.bytes.length,
});

export function rawManifest(doc: unknown, mediaType: string = MediaType.OciManifest): RawManifest {
  const bytes = Buffer.from(JSON.stringify(doc));
  return { bytes, mediaType, digest: Digest.of(bytes) };
}

/** The cosign payload for `digest` under `identity` (what `cosign sign` signs). */
export function cosignPayload(digest: string, identity: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { "docker-reference": identity },
        image: { "docker-manifest-digest": digest },
        type: "cosign container image signature",
      },
      optional: null,
    }),
  );
}

/** `sha256-<hex>.sig`: one simple-signing layer per signature, its signature (and certificate, Rekor bundle) in annotations. */
export function cosignSignature(
  subject: Digest,
  layers: Array<{ payload: Buffer; annotations: Record<string, string> }>,
  extraLayers = 0,
): Stored {
  const config = blob(Buffer.from("{}"), MediaType.OciConfig);
  const payloads = layers.map((l) => blob(l.payload, "application/vnd.dev.cosign.simplesigning.v1+json"));
  const filler = Array.from({ length: extraLayers }, (_, i) => ({
    mediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
    digest: Digest.of(Buffer.from(`filler ${i}`)).toString(),
    size: 8 + String(i).length,
  }));
  const doc = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: desc(config),
    layers: [...payloads.map((p, i) => ({ ...desc(p), annotations: layers[i]!.annotations })), ...filler],
  };
  return { manifest: rawManifest(doc), blobs: [config, ...payloads], tag: `sha256-${subject.hex}.sig` };
}

/** A containers/image `dir:` signature file (`\0sigstore-json\n{mimeType,payload,annotations}`) as a cosign layer. */
export async function containersImageSignature(path: string): Promise<{ payload: Buffer; annotations: Record<string, string> }> {
  const bytes = await readFile(path);
  const doc = JSON.parse(bytes.subarray(bytes.indexOf("{")).toString("utf8")) as { payload: string; annotations: Record<string, string> };
  return { payload: Buffer.from(doc.payload, "base64"), annotations: doc.annotations };
}

/** An OCI 1.1 artifact carrying `layer` with `subject`, as cosign 3 stores a bundle and notation an envelope. */
export function referrer(subject: RawManifest, artifactType: string, layer: Blob, annotations: Record<string, string> = {}): Stored {
  const config = blob(Buffer.from("{}"), MediaType.OciEmpty);
  const doc = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType,
    config: desc(config),
    layers: [desc(layer)],
    subject: desc({ mediaType: subject.mediaType, digest: subject.digest, bytes: subject.bytes }),
    annotations: { "org.opencontainers.image.created": "2025-01-01T00:00:00Z", ...annotations },
  };
  return { manifest: rawManifest(doc), blobs: [config, layer] };
}

export function bundleReferrer(subject: RawManifest, bundleJson: Buffer, mediaType = BUNDLE_V03): Stored {
  return referrer(subject, mediaType, blob(bundleJson, mediaType), {
    "dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1",
  });
}

/** The tag schema's `sha256-<hex>` index listing `items` (a registry without the referrers API, a layout). */
export function referrersIndex(subject: Digest, items: Stored[]): Stored {
  const doc = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: items.map((s) => {
      const parsed = JSON.parse(s.manifest.bytes.toString("utf8")) as { artifactType?: string };
      return {
        ...desc({ mediaType: s.manifest.mediaType, digest: s.manifest.digest, bytes: s.manifest.bytes }),
        artifactType: parsed.artifactType,
      };
    }),
  };
  return { manifest: rawManifest(doc, MediaType.OciIndex), blobs: [], tag: `sha256-${subject.hex}` };
}

/** Writes manifests and blobs into an OCI layout, ref names from `tag`; a manifest with no tag is stored by digest only. */
export async function writeLayout(dir: string, items: Stored[]): Promise<void> {
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const manifests: unknown[] = [];
  for (const s of items) {
    for (const b of s.blobs) await writeFile(join(dir, b.digest.blobPath), b.bytes);
    await writeFile(join(dir, s.manifest.digest.blobPath), s.manifest.bytes);
    if (s.tag !== undefined)
      manifests.push({
        ...desc({ mediaType: s.manifest.mediaType, digest: s.manifest.digest, bytes: s.manifest.bytes }),
        annotations: { "org.opencontainers.image.ref.name": s.tag },
      });
  }
  await writeFile(join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }));
}

/** Pushes into a registry: blobs, then each manifest under its tag or digest, in order. */
export async function pushAll(target: RegistryTarget, repo: string, items: Stored[]): Promise<void> {
  const client = new TestRegistryClient(target);
  try {
    for (const s of items) {
      for (const b of s.blobs) await client.pushBlob(repo, b.digest.toString(), b.bytes);
      await client.putManifest(repo, s.tag ?? s.manifest.digest.toString(), s.manifest.mediaType, s.manifest.bytes);
    }
  } finally {
    await client.close();
  }
}

/** Signs `data` with openssl (`openssl dgst -sha256 -sign KEY`; Ed25519 with `pkeyutl -rawin`), base64 as cosign stores it. */
export function opensslSign(keyFile: string, data: Buffer, dir: string): string {
  const file = join(dir, `payload-${Digest.of(data).hex.slice(0, 12)}`);
  execFileSync("sh", ["-c", 'cat > "$1"', "sh", file], { input: data });
  const ed = execFileSync("openssl", ["pkey", "-in", keyFile, "-noout", "-text"]).toString().startsWith("ED25519");
  const sig = ed
    ? execFileSync("openssl", ["pkeyutl", "-sign", "-rawin", "-inkey", keyFile, "-in", file])
    : execFileSync("openssl", ["dgst", "-sha256", "-sign", keyFile, file]);
  return sig.toString("base64");
}

/** A key pair made by openssl: `kind` ec (P-256), ec384, rsa or ed25519. Returns the private and public PEM paths. */
export function opensslKey(dir: string, name: string, kind: "ec" | "ec384" | "rsa" | "ed25519"): { key: string; pub: string } {
  const key = join(dir, `${name}.key`);
  const pub = join(dir, `${name}.pub`);
  const gen =
    kind === "rsa"
      ? ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key]
      : kind === "ed25519"
        ? ["genpkey", "-algorithm", "ED25519", "-out", key]
        : ["genpkey", "-algorithm", "EC", "-pkeyopt", `ec_paramgen_curve:${kind === "ec" ? "P-256" : "P-384"}`, "-out", key];
  execFileSync("openssl", gen, { stdio: "ignore" });
  execFileSync("openssl", ["pkey", "-in", key, "-pubout", "-out", pub], { stdio: "ignore" });
  return { key, pub };
}

/** @sigstore/verify's own Verifier (not dray's wrapper) on a bundle's JSON, trusting the PEM public key `pub` only; throws when it refuses. */
export function sigstoreVerifies(bundleJson: Buffer, pub: string): void {
  const bundle = bundleFromJSON(JSON.parse(bundleJson.toString("utf8")));
  const key = createPublicKey(readFileSync(pub));
  const trust = { ...emptyTrustMaterial(), publicKey: () => ({ publicKey: key, validFor: () => true }) };
  new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(toSignedEntity(bundle));
}
