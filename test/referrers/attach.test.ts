// `dray attach` (issue 25 item 3) against the real distribution 2.8 registry
// (no referrers API: the tag schema's `sha256-<hex>` index), an OCI layout and
// an oci-archive: an SPDX document attached as an OCI 1.1 artifact is read
// back by skopeo (`inspect --raw`) and by a plain HTTP client byte for byte,
// listed by `dray referrers`, carried by `dray copy --referrers`; bad input is
// refused in one line before anything reaches the registry.
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { Digest } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/mediatype.js";
import { parseLocation } from "../../src/ref/location.js";
import { pushReferrer } from "../../src/referrers/attach.js";
import { dray, drayOk } from "../cli/run.js";
import { buildImage, pushImage, writeOciLayout, type BuiltImage } from "../helpers/fixtures.js";
import { TestRegistryClient } from "../helpers/http.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { buildCosignSignature, fetchManifest, listTags } from "../sync/artifacts.js";

const SPDX = "application/spdx+json";

/** A small SPDX 2.3 document as syft writes one (the fields the spec requires). */
function spdxDocument(subject: string): string {
  return `${JSON.stringify(
    {
      spdxVersion: "SPDX-2.3",
      dataLicense: "CC0-1.0",
      SPDXID: "SPDXRef-DOCUMENT",
      name: subject,
      documentNamespace: `https://example.invalid/spdx/${subject.replace(/[^a-z0-9]/gi, "-")}`,
      creationInfo: { created: "2024-01-01T00:00:00Z", creators: ["Tool: dray-test"] },
      packages: [
        {
          name: "busybox",
          SPDXID: "SPDXRef-Package-busybox",
          versionInfo: "1.36.1",
          downloadLocation: "NOASSERTION",
          licenseConcluded: "GPL-2.0-only",
          copyrightText: "NOASSERTION",
        },
      ],
      relationships: [{ spdxElementId: "SPDXRef-DOCUMENT", relationshipType: "DESCRIBES", relatedSpdxElement: "SPDXRef-Package-busybox" }],
    },
    null,
    2,
  )}\n`;
}

interface ReferrerNode {
  Digest: string;
  ArtifactType?: string;
  Source: string;
  Annotations?: Record<string, string>;
  Referrers: ReferrerNode[];
}

async function referrersOf(loc: string): Promise<ReferrerNode[]> {
  const r = await drayOk(["referrers", "--format", "json", loc]);
  return (JSON.parse(r.stdout) as { Referrers: ReferrerNode[] }).Referrers;
}

/** Every blob file the registry stores (to show that a refused attach uploaded nothing). */
function storedBlobs(reg: RegistryHandle): string[] {
  const root = join(reg.storageDir, "docker/registry/v2/blobs/sha256");
  try {
    return readdirSync(root).flatMap((p) => readdirSync(join(root, p)));
  } catch {
    return [];
  }
}

describe("dray attach", () => {
  let reg: RegistryHandle;
  let img: BuiltImage;
  let dir: string;
  let sbomFile: string;
  let sbom: Buffer;
  const image = (): string => `docker://${reg.host}/app:1.0`;

  before(async () => {
    reg = await startRegistry();
    img = await buildImage({ seed: "attach" });
    await pushImage(reg, "app", "1.0", img);
    dir = makeTempDir();
    sbomFile = join(dir, "sbom.spdx.json");
    writeFileSync(sbomFile, spdxDocument("app"));
    sbom = readFileSync(sbomFile);
  });

  it("registry without the referrers API: an OCI 1.1 artifact, the sha256-<hex> index, read back by skopeo and byte for byte", async () => {
    const r = await drayOk(["attach", image(), "--artifact-type", SPDX, `${sbomFile}:${SPDX}`, "--annotation", "org.example.kind=sbom"]);
    const digest = r.stdout.trim();
    assert.match(digest, /^sha256:[0-9a-f]{64}$/);
    assert.match(r.stderr, /tag-schema index sha256-/);

    // skopeo reads the artifact manifest as the registry stores it.
    const raw = await skopeoInspectRaw(`docker://${reg.host}/app@${digest}`, { tlsVerify: false });
    const m = JSON.parse(raw.toString()) as {
      mediaType: string;
      artifactType: string;
      config: { mediaType: string; size: number };
      layers: { mediaType: string; digest: string; size: number; annotations: Record<string, string> }[];
      subject: { digest: string; mediaType: string; size: number };
      annotations: Record<string, string>;
    };
    assert.equal(m.mediaType, MediaType.OciManifest);
    assert.equal(m.artifactType, SPDX);
    assert.deepEqual([m.config.mediaType, m.config.size], [MediaType.OciEmpty, 2]);
    assert.deepEqual(m.subject, {
      mediaType: img.manifest.mediaType,
      digest: img.manifest.digest.toString(),
      size: img.manifest.bytes.length,
    });
    assert.equal(m.layers.length, 1);
    assert.deepEqual(m.layers[0]!.annotations, { "org.opencontainers.image.title": "sbom.spdx.json" });
    assert.equal(m.layers[0]!.mediaType, SPDX);
    assert.equal(m.annotations["org.example.kind"], "sbom");
    assert.match(m.annotations["org.opencontainers.image.created"] ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    // The layer, fetched by a plain HTTP client, is the file byte for byte; so is `dray blob`'s.
    const client = new TestRegistryClient(reg);
    try {
      const res = await client.request(`/v2/app/blobs/${m.layers[0]!.digest}`);
      assert.equal(res.status, 200);
      assert.ok(res.body.equals(sbom));
    } finally {
      await client.close();
    }
    const blob = await drayOk(["blob", `docker://${reg.host}/app@${digest}`, m.layers[0]!.digest]);
    assert.ok(blob.stdoutBytes.equals(sbom));

    // The tag schema's index lists it with its type and annotations, as the referrers API would.
    const index = JSON.parse((await fetchManifest(reg, "app", `sha256-${img.manifest.digest.hex}`))!.toString()) as {
      manifests: { digest: string; artifactType: string; annotations: Record<string, string> }[];
    };
    assert.deepEqual(
      index.manifests.map((d) => [d.digest, d.artifactType, d.annotations["org.example.kind"]]),
      [[digest, SPDX, "sbom"]],
    );

    const listed = await referrersOf(image());
    assert.deepEqual(
      listed.map((n) => [n.Digest, n.ArtifactType, n.Source]),
      [[digest, SPDX, "tag-schema"]],
    );
  });

  it("a second attach joins the first in the index; --format json names what was written", async () => {
    const report = join(dir, "scan.txt");
    writeFileSync(report, "no findings\n");
    const before = await referrersOf(image());
    const r = await drayOk(["attach", "-q", "--format", "json", image(), "--artifact-type", "application/vnd.example.scan+text", report]);
    assert.equal(r.stderr, "");
    const out = JSON.parse(r.stdout) as {
      Digest: string;
      Subject: string;
      IndexedBy: string;
      Index: { Tag: string };
      Layers: { Title: string; MediaType: string; Size: number }[];
    };
    assert.equal(out.Subject, img.manifest.digest.toString());
    assert.equal(out.IndexedBy, "tag-schema");
    assert.equal(out.Index.Tag, `sha256-${img.manifest.digest.hex}`);
    assert.deepEqual(out.Layers, [{ ...out.Layers[0]!, Title: "scan.txt", MediaType: "application/octet-stream", Size: 12 }]);
    const after = await referrersOf(image());
    assert.deepEqual(
      after.map((n) => n.Digest),
      [...before.map((n) => n.Digest), out.Digest],
    );
  });

  it("dray copy --referrers carries the attached artifact to another repository", async () => {
    const listed = await referrersOf(image());
    await drayOk(["copy", "-q", "--referrers", image(), `docker://${reg.host}/copy:1.0`]);
    const copied = await referrersOf(`docker://${reg.host}/copy:1.0`);
    assert.deepEqual(
      copied.map((n) => [n.Digest, n.ArtifactType]),
      listed.map((n) => [n.Digest, n.ArtifactType]),
    );
  });

  it("an OCI layout: the artifact under its digest and the index under sha256-<hex>, listed by dray referrers", async () => {
    const layout = join(dir, "layout");
    await writeOciLayout(layout, img, "1.0");
    const r = await drayOk(["attach", `oci:${layout}:1.0`, "--artifact-type", SPDX, `${sbomFile}:${SPDX}`]);
    const digest = r.stdout.trim();
    const names = (
      JSON.parse(readFileSync(join(layout, "index.json"), "utf8")) as {
        manifests: { digest: string; annotations?: Record<string, string> }[];
      }
    ).manifests;
    assert.ok(names.some((e) => e.digest === digest && e.annotations === undefined));
    assert.ok(names.some((e) => e.annotations?.["org.opencontainers.image.ref.name"] === `sha256-${img.manifest.digest.hex}`));
    assert.deepEqual(
      (await referrersOf(`oci:${layout}:1.0`)).map((n) => [n.Digest, n.ArtifactType]),
      [[digest, SPDX]],
    );
    const m = JSON.parse(readFileSync(join(layout, "blobs/sha256", digest.slice(7)), "utf8")) as { layers: { digest: string }[] };
    assert.ok(readFileSync(join(layout, "blobs/sha256", m.layers[0]!.digest.slice(7))).equals(sbom));
  });

  it("an oci-archive: the archive is rewritten holding the artifact, and dray referrers lists it", async () => {
    const archive = join(dir, "app.tar");
    await drayOk(["copy", "-q", image(), `oci-archive:${archive}:1.0`]);
    const r = await drayOk(["attach", `oci-archive:${archive}:1.0`, "--artifact-type", SPDX, `${sbomFile}:${SPDX}`]);
    const digest = r.stdout.trim();
    assert.deepEqual(
      (await referrersOf(`oci-archive:${archive}:1.0`)).map((n) => [n.Digest, n.ArtifactType]),
      [[digest, SPDX]],
    );
    // The image is still there, under its name.
    const inspected = await drayOk(["digest", `oci-archive:${archive}:1.0`]);
    assert.equal(inspected.stdout.trim(), img.manifest.digest.toString());
  });

  it("pushReferrer with a tag and no subject (a cosign .sig, as dray sign writes one): found by its tag, on a registry and in a layout", async () => {
    const sig = buildCosignSignature(img.manifest, "attach-cosign");
    const tag = `sha256-${img.manifest.digest.hex}.sig`;
    const blobs = sig.blobs.map((b) => ({ descriptor: { mediaType: b.mediaType, digest: b.digest, size: b.size }, bytes: b.bytes }));
    const layout = join(dir, "cosign-layout");
    await writeOciLayout(layout, img, "1.0");
    for (const loc of [image(), `oci:${layout}:1.0`]) {
      const r = await pushReferrer(parseLocation(loc), { manifest: sig.manifest, blobs }, { tag });
      assert.deepEqual([r.digest, r.indexedBy, r.tag, r.blobs.copied], [sig.manifest.digest.toString(), "tag", tag, 2]);
      const found = (await referrersOf(loc)).filter((n) => n.Source === "cosign-tag");
      assert.deepEqual(
        found.map((n) => n.Digest),
        [sig.manifest.digest.toString()],
      );
      // Again: every blob is there already, and the same manifest under the same tag.
      const again = await pushReferrer(parseLocation(loc), { manifest: sig.manifest, blobs }, { tag });
      assert.deepEqual(again.blobs, { copied: 0, skipped: 2 });
    }
    // A subject that is not there is refused before anything is written.
    const orphan = await buildImage({ seed: "attach-orphan" });
    const stray = buildCosignSignature(orphan.manifest, "attach-orphan");
    const withSubject = JSON.parse(stray.manifest.bytes.toString()) as Record<string, unknown>;
    withSubject.subject = {
      mediaType: orphan.manifest.mediaType,
      digest: orphan.manifest.digest.toString(),
      size: orphan.manifest.bytes.length,
    };
    const bytes = Buffer.from(JSON.stringify(withSubject));
    await assert.rejects(
      pushReferrer(parseLocation(image()), { manifest: { bytes, mediaType: MediaType.OciManifest, digest: Digest.of(bytes) }, blobs: [] }),
      (err: Error & { code?: string }) => err.code === "E_NOT_FOUND" && /not there/.test(err.message),
    );
  });

  it("bad input: one line, the right exit code, nothing uploaded", async () => {
    const folder = join(dir, "a-folder");
    mkdirSync(folder, { recursive: true });
    const tags = await listTags(reg, "app");
    const blobs = storedBlobs(reg).length;
    const cases: [string[], number, RegExp][] = [
      [[image(), "--artifact-type", SPDX, join(dir, "missing.json")], 2, /missing\.json does not exist/],
      [[image(), "--artifact-type", SPDX, folder], 2, /a-folder is a folder/],
      [[image(), "--artifact-type", SPDX, `${sbomFile}:not a type`], 2, /"not a type" is not a media type/],
      [[image(), "--artifact-type", "spdx", sbomFile], 2, /--artifact-type: "spdx" is not a media type/],
      [[image(), sbomFile], 2, /--artifact-type/],
      [["oci-archive:-", "--artifact-type", SPDX, sbomFile], 2, /not standard input/],
      [[`docker-archive:${join(dir, "d.tar")}`, "--artifact-type", SPDX, sbomFile], 2, /a docker-archive holds no referrers/],
      [[`docker://${reg.host}/app:nope`, "--artifact-type", SPDX, sbomFile], 3, /nope|not found/i],
    ];
    for (const [args, code, message] of cases) {
      const r = await dray(["attach", ...args]);
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.equal(r.stdout, "");
    }
    assert.deepEqual(await listTags(reg, "app"), tags);
    assert.equal(storedBlobs(reg).length, blobs);
  });
});
