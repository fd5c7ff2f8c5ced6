// `dray sign` checked by others: legacy signatures with `openssl dgst -verify`
// (Ed25519: `openssl pkeyutl -verify -rawin`) over the exact payload bytes the
// registry serves; bundles with @sigstore/verify itself (its Verifier, not
// dray's wrapper); then `dray verify`. The registry is distribution 2.8
// (no referrers API), so the bundle must arrive through the tag schema's
// index. Keys: openssl's PEM (P-256, P-384, RSA, Ed25519) and cosign's own
// encrypted keys from sigstore/cosign's test data (password `hello`).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { dray } from "../cli/run.js";
import { buildImage, buildIndex, pushImage, writeOciLayout } from "../helpers/fixtures.js";
import { TestRegistryClient } from "../helpers/http.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";
import { FIXTURES, opensslKey, sigstoreVerifies } from "./artifacts.js";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json";
const COSIGN_KEYS = join(FIXTURES, "cosign-keys");

type Keys = ReturnType<typeof opensslKey>;

interface Doc {
  layers: Array<{ digest: string; mediaType: string; annotations?: Record<string, string> }>;
  manifests: Array<{ digest: string; artifactType?: string }>;
  subject?: { digest: string };
  artifactType?: string;
  annotations?: Record<string, string>;
}

function ok(r: { code: number; stdout: string; stderr: string }): void {
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
}

/** openssl's verdict on `signatureB64` over `payload` with the public key `pub`. */
function opensslVerifies(pub: string, payload: Buffer, signatureB64: string, dir: string): boolean {
  const p = join(dir, "payload.bin");
  const s = join(dir, "payload.sig");
  writeFileSync(p, payload);
  writeFileSync(s, Buffer.from(signatureB64, "base64"));
  const ed = execFileSync("openssl", ["pkey", "-pubin", "-in", pub, "-noout", "-text"]).toString().startsWith("ED25519");
  const args = ed
    ? ["pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", p, "-sigfile", s]
    : ["dgst", "-sha256", "-verify", pub, "-signature", s, p];
  try {
    execFileSync("openssl", args, { stdio: "pipe" });
    return true;
  } catch {
    return false;
  }
}

describe("dray sign: openssl and @sigstore/verify agree with what it writes", () => {
  let reg: RegistryHandle;
  let client: TestRegistryClient;
  let dir: string;
  const keys: Record<string, Keys> = {};

  const json = async (repo: string, ref: string, accept = [OCI_MANIFEST, OCI_INDEX]): Promise<{ doc: Doc; bytes: Buffer }> => {
    const r = await client.getManifest(repo, ref, accept);
    assert.equal(r.status, 200, `${repo}:${ref}: ${r.status}`);
    return { doc: JSON.parse(r.body.toString("utf8")) as Doc, bytes: r.body };
  };
  const blob = async (repo: string, digest: string): Promise<Buffer> => {
    const r = await client.getBlob(repo, digest);
    assert.equal(r.status, 200);
    return r.body;
  };

  before(async () => {
    reg = await startRegistry({ deleteEnabled: true });
    client = new TestRegistryClient(reg);
    dir = makeTempDir("dray-sign-");
    for (const kind of ["ec", "ec384", "rsa", "ed25519"] as const) keys[kind] = opensslKey(dir, kind, kind);
    keys.other = opensslKey(dir, "other", "ec");
  });
  after(async () => {
    await client.close();
    await reg.stop();
  });

  for (const kind of ["ec", "ec384", "rsa", "ed25519"] as const) {
    it(`${kind}: --format both; openssl verifies the .sig payload, @sigstore/verify the bundle, dray verify both`, async () => {
      const img = await buildImage({ seed: `sign-${kind}` });
      const digest = (await pushImage(reg, kind, "1", img)).toString();
      const hex = digest.slice("sha256:".length);
      const r = await dray(["sign", "--key", keys[kind]!.key, "--format", "both", "-a", "team=infra", `${reg.host}/${kind}:1`]);
      ok(r);
      const printed = r.stdout.trim().split("\n");
      assert.equal(printed.length, 2, r.stdout);
      assert.match(r.stderr, /no transparency log entry was written/);

      // Legacy: the .sig manifest the tag names, its payload bytes as served, openssl's verdict.
      const sig = await json(kind, `sha256-${hex}.sig`);
      assert.ok(printed.includes(`sha256:${execFileSync("sha256sum", { input: sig.bytes }).toString().slice(0, 64)}`));
      const layer = sig.doc.layers[0]!;
      assert.equal(layer.mediaType, "application/vnd.dev.cosign.simplesigning.v1+json");
      const payload = await blob(kind, layer.digest);
      const p = JSON.parse(payload.toString("utf8")) as {
        critical: Record<string, Record<string, string>>;
        optional: Record<string, string>;
      };
      assert.equal(p.critical.image!["docker-manifest-digest"], digest);
      assert.equal(p.critical.identity!["docker-reference"], `${reg.host}/${kind}`);
      assert.deepEqual(p.optional, { team: "infra" });
      const signature = layer.annotations!["dev.cosignproject.cosign/signature"]!;
      assert.ok(opensslVerifies(keys[kind]!.pub, payload, signature, dir), "openssl verifies the legacy signature");
      assert.ok(!opensslVerifies(keys.other!.pub, payload, signature, dir), "another key does not");

      // Bundle: distribution 2.8 has no referrers API, so the tag schema's index lists it.
      const index = await json(kind, `sha256-${hex}`);
      assert.equal(index.doc.manifests.length, 1);
      assert.equal(index.doc.manifests[0]!.artifactType, BUNDLE);
      const artifact = await json(kind, index.doc.manifests[0]!.digest);
      assert.ok(printed.includes(index.doc.manifests[0]!.digest));
      assert.equal(artifact.doc.artifactType, BUNDLE);
      assert.equal(artifact.doc.subject!.digest, digest);
      assert.equal(artifact.doc.annotations!["dev.sigstore.bundle.predicateType"], "https://sigstore.dev/cosign/sign/v1");
      assert.equal(artifact.doc.annotations!.team, "infra");
      const bundleBytes = await blob(kind, artifact.doc.layers[0]!.digest);
      const bundle = JSON.parse(bundleBytes.toString("utf8")) as {
        mediaType: string;
        dsseEnvelope: { payload: string; payloadType: string };
        verificationMaterial: { tlogEntries?: unknown[] };
      };
      assert.equal(bundle.mediaType, BUNDLE);
      assert.equal(bundle.verificationMaterial.tlogEntries?.length ?? 0, 0, "no transparency-log entry");
      const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, "base64").toString("utf8")) as {
        subject: Array<{ digest: Record<string, string> }>;
        predicateType: string;
      };
      assert.equal(statement.subject[0]!.digest.sha256, hex);
      assert.equal(statement.predicateType, "https://sigstore.dev/cosign/sign/v1");
      sigstoreVerifies(bundleBytes, keys[kind]!.pub);
      assert.throws(() => sigstoreVerifies(bundleBytes, keys.other!.pub));

      // dray verify accepts both with the key, refuses with another, and refuses with --require-tlog.
      const v = await dray(["verify", "--key", keys[kind]!.pub, `${reg.host}/${kind}:1`]);
      ok(v);
      assert.equal(v.stdout.match(/\taccepted$/gm)?.length, 2, v.stdout);
      assert.equal((await dray(["verify", "--key", keys.other!.pub, `${reg.host}/${kind}:1`])).code, 6);
      const tlog = await dray(["verify", "--key", keys[kind]!.pub, "--require-tlog", `${reg.host}/${kind}:1`]);
      assert.equal(tlog.code, 6, tlog.stdout);
      assert.match(tlog.stdout, /no transparency-log entry/);
    });
  }

  it("legacy appends a layer to cosign's existing .sig manifest; the bundle index keeps what it listed", async () => {
    const img = await buildImage({ seed: "sign-append" });
    const hex = (await pushImage(reg, "append", "1", img)).hex;
    ok(await dray(["sign", "-q", "--key", keys.ec!.key, "--format", "both", `${reg.host}/append:1`]));
    ok(await dray(["sign", "-q", "--key", keys.rsa!.key, "--format", "both", `${reg.host}/append:1`]));
    const sig = await json("append", `sha256-${hex}.sig`);
    assert.equal(sig.doc.layers.length, 2);
    const index = await json("append", `sha256-${hex}`);
    assert.equal(index.doc.manifests.length, 2);
    for (const k of [keys.ec!, keys.rsa!]) {
      const v = await dray(["verify", "--key", k.pub, `${reg.host}/append:1`]);
      ok(v);
      // Each key: its own bundle and its own .sig layer are accepted, the other key's are not.
      assert.equal(v.stdout.match(/\taccepted$/gm)?.length, 2, v.stdout);
    }
    // The same key again (cosign's duplicate detection): the same payload signed by it is there, nothing is appended.
    const again = await dray(["sign", "-q", "--key", keys.rsa!.key, "--format", "legacy", `${reg.host}/append:1`]);
    ok(again);
    assert.equal(again.stdout.trim(), `sha256:${createHash("sha256").update(sig.bytes).digest("hex")}`);
    assert.equal((await json("append", `sha256-${hex}.sig`)).doc.layers.length, 2);
  });

  it("an index: its digest is signed, and the JSON says what was written", async () => {
    const index = await buildIndex({ seed: "sign-index" });
    const digest = (await pushImage(reg, "multi", "1", index)).toString();
    const r = await dray(["sign", "--key", keys.ec!.key, "--output-format", "json", `${reg.host}/multi:1`]);
    ok(r);
    const out = JSON.parse(r.stdout) as { Digest: string; TransparencyLog: boolean; Signatures: Array<{ Format: string; Via: string }> };
    assert.equal(out.Digest, digest);
    assert.equal(out.TransparencyLog, false);
    assert.deepEqual(
      out.Signatures.map((s) => [s.Format, s.Via]),
      [["bundle", "tag-schema"]],
    );
    ok(await dray(["verify", "--key", keys.ec!.pub, `${reg.host}/multi:1`]));
  });

  it("cosign's own encrypted keys (ENCRYPTED COSIGN / SIGSTORE PRIVATE KEY): the password from the environment or stdin", async () => {
    const img = await buildImage({ seed: "sign-cosign-key" });
    await pushImage(reg, "cosignkey", "1", img);
    for (const name of ["pemcosignkey", "pemsigstorekey"]) {
      const key = join(COSIGN_KEYS, `${name}.key`);
      const pub = join(dir, `${name}.pub`);
      // Its public half, as openssl derives it from the decrypted key dray signs with, is what verifies.
      const none = await dray(["sign", "--key", key, `${reg.host}/cosignkey:1`], {
        env: { COSIGN_PASSWORD: undefined, DRAY_KEY_PASSWORD: undefined },
      });
      assert.equal(none.code, 2, none.stderr);
      assert.match(none.stderr, /encrypted cosign key: set DRAY_KEY_PASSWORD or COSIGN_PASSWORD/);
      const wrong = await dray(["sign", "--key", key, `${reg.host}/cosignkey:1`], { env: { COSIGN_PASSWORD: "not-the-one" } });
      assert.equal(wrong.code, 2);
      assert.match(wrong.stderr, /the password does not open this cosign key/);
      assert.ok(!wrong.stderr.includes("not-the-one"), "the password is never printed");
      const r = await dray(["sign", "--key", key, "--format", "legacy", "--key-password-stdin", `${reg.host}/cosignkey:1`], {
        input: "hello\n",
        env: { COSIGN_PASSWORD: undefined, DRAY_KEY_PASSWORD: undefined },
      });
      ok(r);
      const e = await dray(["sign", "--key", key, `${reg.host}/cosignkey:1`], { env: { COSIGN_PASSWORD: "hello" } });
      ok(e);
      const sig = await json("cosignkey", `sha256-${img.manifest.digest.hex}.sig`);
      const layer = sig.doc.layers.at(-1)!;
      const payload = await blob("cosignkey", layer.digest);
      // The public key: from the signature's own check in dray verify's fingerprint line below, and openssl's verdict.
      writeFileSync(pub, await publicKeyOf(key));
      assert.ok(opensslVerifies(pub, payload, layer.annotations!["dev.cosignproject.cosign/signature"]!, dir));
      const v = await dray(["verify", "--key", pub, `${reg.host}/cosignkey:1`]);
      ok(v);
    }
  });

  it("an OCI layout and an oci-archive hold the bundle referrer (tag schema) and the .sig tag", async () => {
    const img = await buildImage({ seed: "sign-layout" });
    const layout = join(dir, "layout");
    await writeOciLayout(layout, img, "v1");
    ok(
      await dray([
        "sign",
        "-q",
        "--key",
        keys.ed25519!.key,
        "--format",
        "both",
        "--sign-container-identity",
        "example.com/app",
        `oci:${layout}:v1`,
      ]),
    );
    const names = (
      JSON.parse(readFileSync(join(layout, "index.json"), "utf8")) as { manifests: Array<{ annotations?: Record<string, string> }> }
    ).manifests.map((m) => m.annotations?.["org.opencontainers.image.ref.name"]);
    assert.ok(names.includes(`sha256-${img.manifest.digest.hex}`), names.join(","));
    assert.ok(names.includes(`sha256-${img.manifest.digest.hex}.sig`), names.join(","));
    const v = await dray(["verify", "--key", keys.ed25519!.pub, "--signed-identity", "example.com/app", `oci:${layout}:v1`]);
    ok(v);
    assert.equal(v.stdout.match(/\taccepted$/gm)?.length, 2, v.stdout);
    // Legacy in a layout needs the repository it names.
    const noId = await dray(["sign", "--key", keys.ec!.key, "--format", "legacy", `oci:${layout}:v1`]);
    assert.equal(noId.code, 2);
    assert.match(noId.stderr, /--sign-container-identity/);

    const tar = join(dir, "image.tar");
    ok(await dray(["copy", "-q", `oci:${layout}:v1`, `oci-archive:${tar}:v1`]));
    ok(await dray(["sign", "-q", "--key", keys.rsa!.key, `oci-archive:${tar}:v1`]));
    const listing = execFileSync("tar", ["-tf", tar]).toString();
    assert.match(listing, /index\.json/);
    ok(await dray(["verify", "--key", keys.rsa!.pub, `oci-archive:${tar}:v1`]));
  });

  it("bad input is refused before any request: a public key, a missing file, an unknown format", async () => {
    const loc = `${reg.host}/nothing:1`;
    const pub = await dray(["sign", "--key", keys.ec!.pub, loc]);
    assert.equal(pub.code, 2);
    assert.match(pub.stderr, /a public key; signing needs the private key/);
    const missing = await dray(["sign", "--key", join(dir, "nope.key"), loc]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /does not exist/);
    const fmt = await dray(["sign", "--key", keys.ec!.key, "--format", "cosign", loc]);
    assert.equal(fmt.code, 2);
    assert.match(fmt.stderr, /expected bundle, legacy or both/);
    // --format is the signature's here (as cosign's); a user asking for JSON is pointed at --output-format.
    const json = await dray(["sign", "--key", keys.ec!.key, "--format", "json", loc]);
    assert.equal(json.code, 2);
    assert.match(json.stderr, /expected bundle, legacy or both; for JSON output use --output-format json/);
    // Standard input is read once: a credential and the key's password cannot both come from it.
    const both = await dray(["sign", "--key", keys.ec!.key, "--key-password-stdin", "--creds-file", "-", loc], { input: "u:p\n" });
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--key-password-stdin and --creds-file - both read standard input/);
    // The private key is never printed, whatever fails.
    const pem = readFileSync(keys.ec!.key, "utf8").split("\n")[1]!;
    for (const r of [pub, missing, fmt, both]) assert.ok(!r.stderr.includes(pem) && !r.stdout.includes(pem));
  });
});

/** The public key of a cosign encrypted key, derived the way dray does, for openssl. */
async function publicKeyOf(path: string): Promise<string> {
  const { loadSigningKey } = await import("../../src/signature/signing-key.js");
  const key = await loadSigningKey(path, () => "hello");
  return key.publicKey.export({ type: "spki", format: "pem" }).toString();
}
