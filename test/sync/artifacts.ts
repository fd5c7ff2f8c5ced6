// Referrer fixtures made in the test with real bytes and digests: an OCI
// artifact (an image manifest with artifactType and a `subject`) as OCI 1.1
// clients write it, the tag schema's `sha256-<hex>` index that such a client
// writes on a registry without the referrers API (distribution 2.8), and a
// cosign-style `sha256-<hex>.sig` simple-signing manifest.
import { Digest } from "../../src/oci/digest.js";
import type { RawManifest } from "../../src/oci/manifest.js";
import { MediaType } from "../../src/oci/mediatype.js";
import { TestRegistryClient, type RegistryTarget } from "../helpers/http.js";
import { buildImage, pushImage, seededBytes, type BuiltBlob, type BuiltImage } from "../helpers/fixtures.js";

export const SIGNATURE_TYPE = "application/vnd.example.signature.v1+json";
export const SBOM_TYPE = "application/spdx+json";

export interface BuiltArtifact {
  manifest: RawManifest;
  blobs: BuiltBlob[];
  artifactType: string;
}

function blob(bytes: Buffer, mediaType: string): BuiltBlob {
  return { bytes, mediaType, digest: Digest.of(bytes), size: bytes.length };
}

function desc(b: { mediaType: string; digest: Digest; size: number }): Record<string, unknown> {
  return { mediaType: b.mediaType, digest: b.digest.toString(), size: b.size };
}

function raw(doc: Record<string, unknown>, mediaType: string): RawManifest {
  const bytes = Buffer.from(JSON.stringify(doc));
  return { bytes, mediaType, digest: Digest.of(bytes) };
}

/** An OCI 1.1 artifact referring to `subject`: empty config, one payload layer, artifactType, subject. */
export function buildArtifact(subject: RawManifest, artifactType: string, seed: string): BuiltArtifact {
  const config = blob(Buffer.from("{}"), MediaType.OciEmpty);
  const payload = blob(
    Buffer.concat([Buffer.from(`${seed}:`), seededBytes(seed, 512)]),
    artifactType === SBOM_TYPE ? "application/spdx+json" : "application/octet-stream",
  );
  const doc = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType,
    config: desc(config),
    layers: [desc(payload)],
    subject: desc({ mediaType: subject.mediaType, digest: subject.digest, size: subject.bytes.length }),
    annotations: { "org.opencontainers.image.created": "2024-01-01T00:00:00Z", "org.example.seed": seed },
  };
  return { manifest: raw(doc, MediaType.OciManifest), blobs: [config, payload], artifactType };
}

/** The tag schema's index listing `artifacts` (what an OCI 1.1 client PUTs as `sha256-<hex>` without a referrers API). */
export function buildReferrersIndex(artifacts: BuiltArtifact[]): RawManifest {
  return raw(
    {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: artifacts.map((a) => ({
        ...desc({ mediaType: a.manifest.mediaType, digest: a.manifest.digest, size: a.manifest.bytes.length }),
        artifactType: a.artifactType,
      })),
    },
    MediaType.OciIndex,
  );
}

/** A cosign simple-signing signature manifest for `subject` (no `subject` field: the tag names it). */
export function buildCosignSignature(subject: RawManifest, seed: string): BuiltArtifact {
  const payload = blob(
    Buffer.from(
      JSON.stringify({
        critical: {
          identity: { "docker-reference": "example" },
          image: { "docker-manifest-digest": subject.digest.toString() },
          type: "cosign container image signature",
        },
        optional: null,
      }),
    ),
    "application/vnd.dev.cosign.simplesigning.v1+json",
  );
  const config = blob(
    Buffer.from(
      JSON.stringify({ architecture: "", os: "", config: {}, rootfs: { type: "layers", diff_ids: [payload.digest.toString()] } }),
    ),
    MediaType.OciConfig,
  );
  const doc = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: desc(config),
    layers: [{ ...desc(payload), annotations: { "dev.cosignproject.cosign/signature": seededBytes(seed, 48).toString("base64") } }],
  };
  return {
    manifest: raw(doc, MediaType.OciManifest),
    blobs: [config, payload],
    artifactType: "application/vnd.dev.cosign.simplesigning.v1+json",
  };
}

/** Pushes an artifact's blobs and its manifest (by digest, or under `tag`). */
export async function pushArtifact(target: RegistryTarget, repo: string, a: BuiltArtifact, tag?: string): Promise<void> {
  const client = new TestRegistryClient(target);
  try {
    for (const b of a.blobs) await client.pushBlob(repo, b.digest.toString(), b.bytes);
    await client.putManifest(repo, tag ?? a.manifest.digest.toString(), a.manifest.mediaType, a.manifest.bytes);
  } finally {
    await client.close();
  }
}

export async function putManifest(target: RegistryTarget, repo: string, ref: string, m: RawManifest): Promise<void> {
  const client = new TestRegistryClient(target);
  try {
    await client.putManifest(repo, ref, m.mediaType, m.bytes);
  } finally {
    await client.close();
  }
}

/** GET a manifest's bytes (or undefined on 404) with the reference client. */
export async function fetchManifest(target: RegistryTarget, repo: string, ref: string): Promise<Buffer | undefined> {
  const client = new TestRegistryClient(target);
  try {
    const res = await client.getManifest(repo, ref, [
      MediaType.OciManifest,
      MediaType.OciIndex,
      MediaType.DockerManifest,
      MediaType.DockerManifestList,
    ]);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new Error(`GET ${repo}:${ref}: ${res.status}`);
    return res.body;
  } finally {
    await client.close();
  }
}

export async function listTags(target: RegistryTarget, repo: string): Promise<string[]> {
  const client = new TestRegistryClient(target);
  try {
    const res = await client.request(`/v2/${repo}/tags/list`);
    if (res.status === 404) return [];
    return ((JSON.parse(res.body.toString()) as { tags: string[] | null }).tags ?? []).sort();
  } finally {
    await client.close();
  }
}

/** An image with a signature artifact (and its `sha256-<hex>` referrers index) and a cosign-style `.sig` tag. */
export interface SignedImage {
  img: BuiltImage;
  sig: BuiltArtifact;
  cosign: BuiltArtifact;
  index: RawManifest;
  /** Hex of the image's manifest digest, as the fallback tags spell it. */
  hex: string;
}

/** Pushes `repo:tag` and everything that refers to it the way cosign and the tag schema do; `seed` keeps bytes distinct per test. */
export async function pushSignedImage(target: RegistryTarget, repo: string, tag: string, seed: string): Promise<SignedImage> {
  const img = await buildImage({ seed: `${seed}-app` });
  await pushImage(target, repo, tag, img);
  const hex = img.manifest.digest.hex;
  const sig = buildArtifact(img.manifest, SIGNATURE_TYPE, `${seed}-sig`);
  await pushArtifact(target, repo, sig);
  const index = buildReferrersIndex([sig]);
  await putManifest(target, repo, `sha256-${hex}`, index);
  const cosign = buildCosignSignature(img.manifest, `${seed}-cosign`);
  await pushArtifact(target, repo, cosign, `sha256-${hex}.sig`);
  return { img, sig, cosign, index, hex };
}
