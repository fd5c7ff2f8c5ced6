// `dray referrers` against the real registry (distribution 2.8: no referrers
// API, so the tag schema) and an OCI layout dray copied there: an image with
// an OCI 1.1 signature (listed by the `sha256-<hex>` index), a cosign `.sig`
// tag, and an SBOM that refers to the signature (the tree's second level).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { before, describe, it } from "node:test";
import { Digest } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/mediatype.js";
import { dray, drayOk } from "../cli/run.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";
import {
  SBOM_TYPE,
  SIGNATURE_TYPE,
  buildArtifact,
  buildReferrersIndex,
  pushArtifact,
  pushSignedImage,
  putManifest,
  type SignedImage,
} from "../sync/artifacts.js";
import type { BuiltArtifact } from "../sync/artifacts.js";

const DRAY = fileURLToPath(new URL("../../../bin/dray.cjs", import.meta.url));

/** `dray ARGS` with stdout on a pseudo-terminal (util-linux script); what the terminal showed, and the exit code. */
function onTerminal(args: string[]): Promise<{ code: number; screen: string }> {
  const command = [process.execPath, DRAY, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  return new Promise((resolve, reject) => {
    execFile(
      "script",
      ["-qfec", command, "/dev/null"],
      { env: { ...process.env, NO_COLOR: "1" }, encoding: "utf8", timeout: 60_000 },
      (err, stdout) => {
        if (err && typeof err.code !== "number") reject(err as Error);
        else resolve({ code: err ? (err.code as number) : 0, screen: stdout.replace(/\r/g, "") });
      },
    );
  });
}

interface Node {
  Digest: string;
  ArtifactType?: string;
  Source: string;
  Tag?: string;
  Annotations?: Record<string, string>;
  Referrers: Node[];
}

describe("dray referrers", () => {
  let reg: RegistryHandle;
  let signed: SignedImage;
  let sbom: BuiltArtifact;
  const loc = (): string => `docker://${reg.host}/app:1.0`;

  before(async () => {
    reg = await startRegistry();
    signed = await pushSignedImage(reg, "app", "1.0", "referrers-cli");
    sbom = buildArtifact(signed.sig.manifest, SBOM_TYPE, "referrers-cli-sbom");
    await pushArtifact(reg, "app", sbom);
    await putManifest(reg, "app", `sha256-${signed.sig.manifest.digest.hex}`, buildReferrersIndex([sbom]));
  });

  it("--format json: the nested tree, through the tag schema and the cosign tag", async () => {
    const r = await drayOk(["referrers", "--format", "json", loc()]);
    const tree = JSON.parse(r.stdout) as { Subject: { Digest: string }; Referrers: Node[] };
    assert.equal(tree.Subject.Digest, signed.img.manifest.digest.toString());
    const byDigest = new Map(tree.Referrers.map((n) => [n.Digest, n]));
    const sig = byDigest.get(signed.sig.manifest.digest.toString());
    assert.equal(sig?.ArtifactType, SIGNATURE_TYPE);
    assert.equal(sig?.Source, "tag-schema");
    assert.deepEqual(
      sig?.Referrers.map((n) => [n.Digest, n.ArtifactType]),
      [[sbom.manifest.digest.toString(), SBOM_TYPE]],
    );
    const cosign = byDigest.get(signed.cosign.manifest.digest.toString());
    assert.equal(cosign?.Source, "cosign-tag");
    assert.equal(cosign?.Tag, `sha256-${signed.hex}.sig`);
    assert.equal(tree.Referrers.length, 2);
  });

  it("not a terminal: one line each (digest, type, size, subject)", async () => {
    const r = await drayOk(["referrers", loc()]);
    const lines = r.stdout
      .trim()
      .split("\n")
      .map((l) => l.split("\t"));
    assert.equal(lines.length, 3);
    const sbomLine = lines.find((l) => l[0] === sbom.manifest.digest.toString());
    assert.deepEqual(sbomLine, [
      sbom.manifest.digest.toString(),
      SBOM_TYPE,
      String(sbom.manifest.bytes.length),
      signed.sig.manifest.digest.toString(),
    ]);
  });

  it("on a terminal: a tree with artifact type, digest, size, creation time and the cosign tag", async () => {
    const r = await onTerminal(["referrers", loc()]);
    assert.equal(r.code, 0, r.screen);
    const lines = r.screen.trimEnd().split("\n");
    assert.equal(lines[0], `${loc()} ${signed.img.manifest.digest}`);
    assert.ok(
      lines.some((l) =>
        /^[├└]── application\/vnd\.example\.signature\.v1\+json sha256:[0-9a-f]{64} \d+ B created 2024-01-01T00:00:00Z$/.test(l),
      ),
      r.screen,
    );
    assert.ok(
      lines.some((l) => /^[│ ] {3}└── application\/spdx\+json sha256:/.test(l)),
      r.screen,
    );
    assert.ok(
      lines.some((l) => l.includes(`(sha256-${signed.hex}.sig)`)),
      r.screen,
    );
  });

  it("dray export refuses to write a tar to a terminal (exit 2)", async () => {
    const r = await onTerminal(["export", loc()]);
    assert.equal(r.code, 2, r.screen);
    assert.match(r.screen, /refusing to write a tar to a terminal/);
  });

  it("--depth 1 stops at the image's own referrers; --artifact-type filters", async () => {
    const shallow = (await drayOk(["referrers", "--depth", "1", loc()])).stdout.trim().split("\n");
    assert.equal(shallow.length, 2);
    const sigs = (await drayOk(["referrers", "--artifact-type", SIGNATURE_TYPE, loc()])).stdout.trim().split("\n");
    assert.deepEqual(
      sigs.map((l) => l.split("\t")[0]),
      [signed.sig.manifest.digest.toString()],
    );
  });

  it("--artifact-type keeps a matching referrer below one of another type, with its own subject (issue 27, item 10)", async () => {
    const sboms = (await drayOk(["referrers", "--artifact-type", SBOM_TYPE, loc()])).stdout.trim().split("\n");
    assert.deepEqual(
      sboms.map((l) => l.split("\t")),
      [[sbom.manifest.digest.toString(), SBOM_TYPE, String(sbom.manifest.bytes.length), signed.sig.manifest.digest.toString()]],
    );
    const tree = await onTerminal(["referrers", "--artifact-type", SBOM_TYPE, loc()]);
    assert.match(tree.screen, new RegExp(`└── application/spdx\\+json ${sbom.manifest.digest} .* refers to ${signed.sig.manifest.digest}`));
  });

  it("a tag-schema index without artifactType: the type comes from the manifest, and --artifact-type finds it (issue 27, item 10)", async () => {
    const other = await pushSignedImage(reg, "app", "2.0", "referrers-bare-index");
    // skopeo 1.9 re-pushes the sha256-<hex> index without the descriptors' artifactType.
    const bare = JSON.parse(buildReferrersIndex([other.sig]).bytes.toString()) as { manifests: Array<Record<string, unknown>> };
    for (const m of bare.manifests) delete m.artifactType;
    const bytes = Buffer.from(JSON.stringify(bare));
    await putManifest(reg, "app", `sha256-${other.hex}`, { bytes, mediaType: MediaType.OciIndex, digest: Digest.of(bytes) });
    const at = `docker://${reg.host}/app:2.0`;
    const lines = (await drayOk(["referrers", "--depth", "1", at])).stdout.trim().split("\n");
    const sigLine = lines.map((l) => l.split("\t")).find((l) => l[0] === other.sig.manifest.digest.toString());
    assert.equal(sigLine?.[1], SIGNATURE_TYPE, "the manifest's artifactType, not its media type");
    const found = (await drayOk(["referrers", "--artifact-type", SIGNATURE_TYPE, at])).stdout.trim().split("\n");
    assert.deepEqual(
      found.map((l) => l.split("\t")[0]),
      [other.sig.manifest.digest.toString()],
    );
  });

  it("an OCI layout that copy --referrers wrote gives the same tree", async () => {
    const dir = join(makeTempDir(), "layout");
    await drayOk(["copy", "--referrers", loc(), `oci:${dir}:1.0`]);
    const fromLayout = JSON.parse((await drayOk(["referrers", "--format", "json", `oci:${dir}:1.0`])).stdout) as { Referrers: Node[] };
    const fromRegistry = JSON.parse((await drayOk(["referrers", "--format", "json", loc()])).stdout) as { Referrers: Node[] };
    const digests = (t: { Referrers: Node[] }): string[] =>
      t.Referrers.flatMap((n) => [n.Digest, ...n.Referrers.map((c) => c.Digest)]).sort();
    assert.deepEqual(digests(fromLayout), digests(fromRegistry));
  });

  it("an image nothing refers to prints nothing; a missing tag is exit 3", async () => {
    await drayOk(["copy", loc(), `docker://${reg.host}/bare:1`]);
    assert.equal((await drayOk(["referrers", `docker://${reg.host}/bare:1`])).stdout, "");
    assert.equal((await dray(["referrers", `docker://${reg.host}/app:nope`])).code, 3);
  });
});
