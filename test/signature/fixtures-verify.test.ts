// `dray verify` on signatures that dray did not make: cosign's own
// signatures from containers/image's fixtures (a key; Fulcio + Rekor; a key
// with a Rekor entry), a cosign 3 bundle from cosign's test data (keyless,
// public-good instance) over go-containerregistry's empty image, and bundles
// made by @sigstore/sign against @sigstore/mock (scripts/signature-fixtures.mjs).
// Each case's expected result is the one its source's own tests expect; each
// tamper case flips one thing and must be refused with exit 6.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { Digest } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/mediatype.js";
import { dray } from "../cli/run.js";
import { makeTempDir } from "../helpers/tmp.js";
import {
  FIXTURES,
  blob,
  bundleReferrer,
  containersImageSignature,
  cosignSignature,
  rawManifest,
  referrersIndex,
  writeLayout,
  type Stored,
} from "./artifacts.js";

const CI = join(FIXTURES, "containers-image");
const GEN = join(FIXTURES, "generated");
const PGI_ROOT = join(FIXTURES, "cosign", "trusted_root_pgi.json");

/** A containers/image fixture image (its manifest only: verify reads manifests and signature blobs, never layers). */
async function ciImage(dir: string): Promise<Stored> {
  const bytes = await readFile(join(CI, dir, "manifest.json"));
  return { manifest: { bytes, mediaType: MediaType.DockerManifest, digest: Digest.of(bytes) }, blobs: [], tag: "latest" };
}

async function ciLayout(fixture: string, edit?: (a: Record<string, string>) => void): Promise<string> {
  const img = await ciImage(fixture);
  const sig = await containersImageSignature(join(CI, fixture, "signature-1"));
  edit?.(sig.annotations);
  const dir = makeTempDir("dray-verify-ci-");
  await writeLayout(dir, [img, cosignSignature(img.manifest.digest, [sig])]);
  return dir;
}

function refused(r: { code: number; stdout: string; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 6, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, pattern, r.stdout);
  assert.match(r.stderr, /refused by the signature policy/);
}

/** `dray verify` of a containers/image keyless fixture under the identity it was signed for. */
const keylessArgs = (dir: string): string[] => [
  "verify",
  `oci:${dir}:latest`,
  "--trusted-root",
  PGI_ROOT,
  "--signed-identity",
  "192.168.64.2:5000/cosign-signed/fulcio-rekor-1",
];
const MITR = ["--certificate-identity", "mitr@redhat.com", "--certificate-oidc-issuer", "https://github.com/login/oauth"];

describe("dray verify: cosign simple signing made by cosign (containers/image fixtures)", () => {
  const identity = "192.168.64.2:5000/cosign-signed-single-sample";

  it("a key: accepted with cosign.pub; the key's fingerprint is printed", async () => {
    const dir = await ciLayout("dir-img-cosign-valid");
    const r = await dray(["verify", `oci:${dir}:latest`, "--key", join(CI, "cosign.pub"), "--signed-identity", identity]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^oci:.*: verified$/m);
    assert.match(r.stdout, /cosign\tsha256:[0-9a-f]{64}\tkey SHA256:[A-Za-z0-9+/]{43}\taccepted/);
  });

  it("wrong key: cosign2.pub refuses it (exit 6)", async () => {
    const dir = await ciLayout("dir-img-cosign-valid");
    const r = await dray(["verify", `oci:${dir}:latest`, "--key", join(CI, "cosign2.pub"), "--signed-identity", identity]);
    refused(r, /not signed by key SHA256:/);
  });

  it("repository mismatch: the payload names another repository", async () => {
    const dir = await ciLayout("dir-img-cosign-valid");
    const r = await dray(["verify", `oci:${dir}:latest`, "--key", join(CI, "cosign.pub"), "--signed-identity", "example.com/other"]);
    refused(r, /signed for 192\.168\.64\.2:5000\/cosign-signed-single-sample, not example\.com\/other/);
  });

  it("a layout has no repository name: without --signed-identity the identity cannot match", async () => {
    const dir = await ciLayout("dir-img-cosign-valid");
    const r = await dray(["verify", `oci:${dir}:latest`, "--key", join(CI, "cosign.pub")]);
    refused(r, /give --signed-identity/);
  });

  it("payload digest altered: the signature no longer verifies", async () => {
    const img = await ciImage("dir-img-cosign-valid");
    const sig = await containersImageSignature(join(CI, "dir-img-cosign-valid", "signature-1"));
    const payload = Buffer.from(sig.payload.toString("utf8").replace(/sha256:[0-9a-f]{64}/, `sha256:${"0".repeat(64)}`));
    const dir = makeTempDir("dray-verify-ci-");
    await writeLayout(dir, [img, cosignSignature(img.manifest.digest, [{ payload, annotations: sig.annotations }])]);
    const r = await dray(["verify", `oci:${dir}:latest`, "--key", join(CI, "cosign.pub"), "--signed-identity", identity]);
    refused(r, /not signed by key/);
  });

  it("keyless (Fulcio + Rekor, public-good trusted root): accepted for mitr@redhat.com, at the log time of 2023", async () => {
    const args = keylessArgs(await ciLayout("dir-img-cosign-fulcio-rekor-valid"));
    const ok = await dray([...args, ...MITR]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(
      ok.stdout,
      /identity mitr@redhat\.com issuer https:\/\/github\.com\/login\/oauth logged 2023-01-20T20:51:33\.000Z\taccepted/,
    );
    const wrongId = await dray([
      ...args,
      "--certificate-identity",
      "someone@example.com",
      "--certificate-oidc-issuer",
      "https://github.com/login/oauth",
    ]);
    refused(wrongId, /certificate identity mitr@redhat\.com issued by https:\/\/github\.com\/login\/oauth is not one the policy trusts/);
    const wrongIssuer = await dray([
      ...args,
      "--certificate-identity-regexp",
      ".*@redhat\\.com",
      "--certificate-oidc-issuer",
      "https://accounts.google.com",
    ]);
    refused(wrongIssuer, /is not one the policy trusts/);
  });

  it("keyless through a containers-policy.json (fulcio.caPath with the root alone, rekorPublicKeyPath), as containers/image's own test", async () => {
    const dir = await ciLayout("dir-img-cosign-fulcio-rekor-valid");
    const policy = join(makeTempDir("dray-verify-policy-"), "policy.json");
    const requirement = (subjectEmail: string): unknown => ({
      type: "sigstoreSigned",
      fulcio: { caPath: join(CI, "fulcio_v1.crt.pem"), oidcIssuer: "https://github.com/login/oauth", subjectEmail },
      rekorPublicKeyPath: join(CI, "rekor.pub"),
      signedIdentity: { type: "exactRepository", dockerRepository: "192.168.64.2:5000/cosign-signed/fulcio-rekor-1" },
    });
    await writeFile(policy, JSON.stringify({ default: [requirement("mitr@redhat.com")] }));
    const ok = await dray(["verify", `oci:${dir}:latest`, "--policy", policy]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    await writeFile(policy, JSON.stringify({ default: [requirement("someone@example.com")] }));
    refused(await dray(["verify", `oci:${dir}:latest`, "--policy", policy]), /is not one the policy trusts/);
    // Another root (made by openssl): the chain leads nowhere the policy trusts.
    const other = join(dirname(policy), "other-root.pem");
    const key = join(dirname(policy), "other-root.key");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-384",
        "-nodes",
        "-keyout",
        key,
        "-out",
        other,
        "-subj",
        "/O=sigstore.dev/CN=sigstore",
        "-days",
        "3650",
      ],
      { stdio: "ignore" },
    );
    const doc = { default: [requirement("mitr@redhat.com")] } as { default: Array<{ fulcio: { caPath: string } }> };
    doc.default[0]!.fulcio.caPath = other;
    await writeFile(policy, JSON.stringify(doc));
    refused(await dray(["verify", `oci:${dir}:latest`, "--policy", policy]), /does not chain to a trusted Fulcio CA/);
  });

  it("expired certificate without a log time: the same signature without its Rekor bundle is refused", async () => {
    const dir = await ciLayout("dir-img-cosign-fulcio-rekor-valid", (a) => delete a["dev.sigstore.cosign/bundle"]);
    const r = await dray([...keylessArgs(dir), ...MITR]);
    refused(r, /needs a transparency-log entry or a timestamp/);
  });

  it("altered signed entry timestamp: refused; --require-tlog accepts the genuine one", async () => {
    const args = (dir: string): string[] => [
      "verify",
      `oci:${dir}:latest`,
      "--key",
      join(CI, "cosign2.pub"),
      "--trusted-root",
      PGI_ROOT,
      "--require-tlog",
      "--signed-identity",
      "192.168.64.2:5000/cosign-signed/key-1",
    ];
    const good = await dray(args(await ciLayout("dir-img-cosign-key-rekor-valid")));
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.match(good.stdout, /logged 20\d\d-/);
    const bad = await dray(
      args(
        await ciLayout("dir-img-cosign-key-rekor-valid", (a) => {
          const b = JSON.parse(a["dev.sigstore.cosign/bundle"]!) as { Payload: { integratedTime: number } };
          b.Payload.integratedTime += 1;
          a["dev.sigstore.cosign/bundle"] = JSON.stringify(b);
        }),
      ),
    );
    refused(bad, /key SHA256:.*(signature|tlog)/i);
  });
});

/** go-containerregistry's empty.Image, whose digest cosign's oci-attestation.sigstore.json names. */
function ggcrEmptyImage(): Stored {
  const config = blob(
    Buffer.from('{"architecture":"","created":"0001-01-01T00:00:00Z","os":"","rootfs":{"type":"layers","diff_ids":null},"config":{}}'),
    MediaType.DockerConfig,
  );
  const manifest = rawManifest(
    {
      schemaVersion: 2,
      mediaType: MediaType.DockerManifest,
      config: { mediaType: MediaType.DockerConfig, size: config.bytes.length, digest: config.digest.toString() },
      layers: [],
    },
    MediaType.DockerManifest,
  );
  return { manifest, blobs: [config], tag: "latest" };
}

async function bundleLayout(img: Stored, bundle: Buffer, mediaType?: string): Promise<string> {
  const ref = bundleReferrer(img.manifest, bundle, mediaType);
  const dir = makeTempDir("dray-verify-bundle-");
  await writeLayout(dir, [img, ref, referrersIndex(img.manifest.digest, [ref])]);
  return dir;
}

describe("dray verify: a Sigstore bundle made by cosign 3 (cosign's test data)", () => {
  const keyless = [
    "--trusted-root",
    PGI_ROOT,
    "--certificate-identity",
    "cody@soyland.com",
    "--certificate-oidc-issuer",
    "https://github.com/login/oauth",
  ];

  it("the empty image it names: accepted (DSSE, in-toto subject, inclusion proof and promise)", async () => {
    const img = ggcrEmptyImage();
    assert.equal(img.manifest.digest.toString(), "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4");
    const dir = await bundleLayout(img, await readFile(join(FIXTURES, "cosign", "oci-attestation.sigstore.json")));
    const r = await dray(["verify", "--format", "json", `oci:${dir}:latest`, ...keyless]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const v = JSON.parse(r.stdout) as { Satisfied: boolean; Signatures: Array<Record<string, unknown>> };
    assert.equal(v.Satisfied, true);
    assert.equal(v.Signatures[0]?.Kind, "bundle");
    assert.equal(v.Signatures[0]?.Detail, "v0.3");
    assert.equal(v.Signatures[0]?.Identity, "cody@soyland.com");
    assert.equal(v.Signatures[0]?.LogTime, "2025-02-28T19:18:11.000Z");
  });

  it("altered inclusion proof: refused", async () => {
    const doc = JSON.parse(await readFile(join(FIXTURES, "cosign", "oci-attestation.sigstore.json"), "utf8")) as {
      verificationMaterial: { tlogEntries: Array<{ inclusionProof: { hashes: string[] } }> };
    };
    doc.verificationMaterial.tlogEntries[0]!.inclusionProof.hashes[0] = Buffer.alloc(32, 7).toString("base64");
    const dir = await bundleLayout(ggcrEmptyImage(), Buffer.from(JSON.stringify(doc)));
    refused(await dray(["verify", `oci:${dir}:latest`, ...keyless]), /inclusion|tlog/i);
  });

  it("a valid signature of another image does not count", async () => {
    const other = ggcrEmptyImage();
    const config = blob(
      Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{}}'),
      MediaType.DockerConfig,
    );
    const img: Stored = {
      manifest: rawManifest(
        {
          schemaVersion: 2,
          mediaType: MediaType.DockerManifest,
          config: { mediaType: MediaType.DockerConfig, size: config.bytes.length, digest: config.digest.toString() },
          layers: [],
        },
        MediaType.DockerManifest,
      ),
      blobs: [config],
      tag: "latest",
    };
    // The bundle of the empty image, attached to this one (as a hostile registry could).
    const ref = bundleReferrer(img.manifest, await readFile(join(FIXTURES, "cosign", "oci-attestation.sigstore.json")));
    const dir = makeTempDir("dray-verify-bundle-");
    await writeLayout(dir, [img, ref, referrersIndex(img.manifest.digest, [ref]), { ...other, tag: "other" }]);
    refused(await dray(["verify", `oci:${dir}:latest`, ...keyless]), /subject is another image/);
  });
});

describe("dray verify: bundles made by @sigstore/sign (v0.1, v0.2, v0.3; DSSE and message signature)", () => {
  const keyless = [
    "--trusted-root",
    join(GEN, "trusted_root.json"),
    "--certificate-identity",
    "alice@example.com",
    "--certificate-oidc-issuer",
    "https://issuer.example.com",
  ];
  const image = async (): Promise<Stored> => {
    const index = JSON.parse(await readFile(join(GEN, "image", "index.json"), "utf8")) as { manifests: Array<{ digest: string }> };
    const digest = Digest.parse(index.manifests[0]!.digest);
    const bytes = await readFile(join(GEN, "image", digest.blobPath));
    const m = JSON.parse(bytes.toString("utf8")) as { config: { digest: string }; layers: Array<{ digest: string }> };
    const blobs = await Promise.all(
      [m.config.digest, ...m.layers.map((l) => l.digest)].map(async (d) =>
        blob(await readFile(join(GEN, "image", Digest.parse(d).blobPath)), "x/y"),
      ),
    );
    return { manifest: { bytes, mediaType: MediaType.OciManifest, digest }, blobs, tag: "signed" };
  };
  const gen = (name: string): Promise<Buffer> => readFile(join(GEN, "bundles", `${name}.json`));

  for (const [name, mediaType] of [
    ["keyless-dsse-v0.3", "application/vnd.dev.sigstore.bundle.v0.3+json"],
    // Media types cannot carry parameters in a descriptor: older bundles go as the bare type.
    ["keyless-dsse-v0.2", "application/vnd.dev.sigstore.bundle+json"],
    ["keyless-dsse-v0.1", "application/vnd.dev.sigstore.bundle+json"],
    ["keyless-message-v0.3", "application/vnd.dev.sigstore.bundle.v0.3+json"],
  ] as const) {
    it(`${name}: accepted keyless; refused for another identity`, async () => {
      const dir = await bundleLayout(await image(), await gen(name), mediaType);
      const ok = await dray(["verify", `oci:${dir}:signed`, ...keyless]);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.match(ok.stdout, /identity alice@example\.com issuer https:\/\/issuer\.example\.com logged \d{4}-/);
      const other = keyless.map((a) => (a === "alice@example.com" ? "bob@example.com" : a));
      refused(await dray(["verify", `oci:${dir}:signed`, ...other]), /not one the policy trusts/);
    });
  }

  it("keyed bundles: accepted with the key, with or without a log entry; --require-tlog needs the entry; another key refuses", async () => {
    const withLog = await bundleLayout(await image(), await gen("keyed-dsse-tlog-v0.3"));
    const bare = await bundleLayout(await image(), await gen("keyed-dsse-v0.3"));
    const key = ["--key", join(GEN, "keyed.pub")];
    assert.equal((await dray(["verify", `oci:${bare}:signed`, ...key])).code, 0);
    const logged = await dray([
      "verify",
      `oci:${withLog}:signed`,
      ...key,
      "--trusted-root",
      join(GEN, "trusted_root.json"),
      "--require-tlog",
    ]);
    assert.equal(logged.code, 0, logged.stdout + logged.stderr);
    assert.match(logged.stdout, /logged \d{4}-/);
    refused(
      await dray(["verify", `oci:${bare}:signed`, ...key, "--trusted-root", join(GEN, "trusted_root.json"), "--require-tlog"]),
      /no transparency-log entry/,
    );
    refused(await dray(["verify", `oci:${bare}:signed`, "--key", join(GEN, "other.pub")]), /not signed by key/);
  });

  it("an oci-archive: its signatures are found in the archive's layout", async () => {
    const dir = await bundleLayout(await image(), await gen("keyless-dsse-v0.3"));
    const tar = join(makeTempDir("dray-verify-archive-"), "signed.tar");
    execFileSync("tar", ["-cf", tar, "-C", dir, "."]);
    const ok = await dray(["verify", `oci-archive:${tar}:signed`, ...keyless]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /^oci-archive:.*signed\.tar:signed sha256:[0-9a-f]{64}: verified$/m);
  });

  it("a deeply nested or huge bundle costs bounded work and is reported, never a crash", async () => {
    const nested = await bundleLayout(await image(), Buffer.from(`${"[".repeat(400_000)}${"]".repeat(400_000)}`));
    refused(await dray(["verify", `oci:${nested}:signed`, ...keyless]), /bundle\t.*refused: not a valid Sigstore bundle/);
    const huge = await bundleLayout(await image(), Buffer.alloc(2 * 1024 * 1024, 0x20));
    refused(await dray(["verify", `oci:${huge}:signed`, ...keyless]), /exceeds the 1048576-byte limit/);
  });

  it("a bundle over another digest does not count", async () => {
    const dir = await bundleLayout(await image(), await gen("keyless-dsse-other-image"));
    refused(await dray(["verify", `oci:${dir}:signed`, ...keyless]), /subject is another image/);
  });

  it("an unsigned image: exit 6, no signature found", async () => {
    const dir = makeTempDir("dray-verify-unsigned-");
    await writeLayout(dir, [await image()]);
    const r = await dray(["verify", `oci:${dir}:signed`, ...keyless]);
    assert.equal(r.code, 6);
    assert.match(r.stderr, /no signature found/);
  });
});
