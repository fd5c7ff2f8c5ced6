// `dray verify` and `dray copy --verify-key` against the real registry
// (distribution 2.8: cosign `.sig` tags and the tag schema's index), with
// legacy signatures made by openssl over cosign's payload (ECDSA P-256 and
// P-384, RSA, Ed25519), each tamper case of issue 24 a test, and a
// containers-policy.json with scopes. The key fingerprint dray prints is
// checked against openssl's own computation.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Digest } from "../../src/oci/digest.js";
import type { RawManifest } from "../../src/oci/manifest.js";
import { dray } from "../cli/run.js";
import { buildImage, buildIndex, pushImage, type BuiltIndex } from "../helpers/fixtures.js";
import { TestRegistryClient } from "../helpers/http.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { skopeo } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { cosignPayload, cosignSignature, opensslKey, opensslSign, pushAll, writeLayout, type Stored } from "./artifacts.js";

type Keys = ReturnType<typeof opensslKey>;

function refused(r: { code: number; stdout: string; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 6, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout + r.stderr, pattern);
}

/** openssl's SHA-256 of the key's SubjectPublicKeyInfo, in dray's `SHA256:<base64>` form. */
function opensslFingerprint(pub: string): string {
  const der = execFileSync("openssl", ["pkey", "-pubin", "-in", pub, "-outform", "DER"]);
  const digest = execFileSync("openssl", ["dgst", "-sha256", "-binary"], { input: der });
  return `SHA256:${digest.toString("base64").replace(/=+$/, "")}`;
}

describe("dray verify: legacy cosign signatures made with openssl, on the registry", () => {
  let reg: RegistryHandle;
  let dir: string;
  const keys: Record<string, Keys> = {};

  /** A cosign `.sig` manifest for `subject`, its payload naming `identity` (and `digest`), signed by `key`. */
  const sig = (subject: RawManifest | Digest, key: Keys, identity: string, digest?: string): Stored => {
    const d = "digest" in subject ? subject.digest : subject;
    const payload = cosignPayload(digest ?? d.toString(), identity);
    return cosignSignature(d, [{ payload, annotations: { "dev.cosignproject.cosign/signature": opensslSign(key.key, payload, dir) } }]);
  };
  const repo = (name: string): string => `${reg.host}/${name}`;

  before(async () => {
    reg = await startRegistry({ deleteEnabled: true });
    dir = makeTempDir("dray-verify-keys-");
    for (const kind of ["ec", "ec384", "rsa", "ed25519"] as const) keys[kind] = opensslKey(dir, kind, kind);
    keys.other = opensslKey(dir, "other", "ec");
  });
  after(async () => reg.stop());

  for (const kind of ["ec", "ec384", "rsa", "ed25519"] as const) {
    it(`${kind}: accepted with its key; the fingerprint is openssl's`, async () => {
      const img = await buildImage({ seed: `verify-${kind}` });
      await pushImage(reg, kind, "1", img);
      await pushAll(reg, kind, [sig(img.manifest, keys[kind]!, repo(kind))]);
      const r = await dray(["verify", `docker://${repo(kind)}:1`, "--key", keys[kind]!.pub]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.ok(r.stdout.includes(`key ${opensslFingerprint(keys[kind]!.pub)}\taccepted`), r.stdout);
      refused(await dray(["verify", `docker://${repo(kind)}:1`, "--key", keys.other!.pub]), /not signed by key/);
    });
  }

  it("one of several keys, and one of several signatures, is enough; --format json carries the facts", async () => {
    const img = await buildImage({ seed: "verify-multi" });
    await pushImage(reg, "multi", "1", img);
    const a = cosignPayload(img.manifest.digest.toString(), repo("multi"));
    const s = cosignSignature(img.manifest.digest, [
      { payload: a, annotations: { "dev.cosignproject.cosign/signature": opensslSign(keys.other!.key, a, dir) } },
      { payload: a, annotations: { "dev.cosignproject.cosign/signature": opensslSign(keys.ec!.key, a, dir) } },
    ]);
    await pushAll(reg, "multi", [s]);
    const r = await dray(["verify", "--format", "json", `docker://${repo("multi")}:1`, "--key", keys.rsa!.pub, "--key", keys.ec!.pub]);
    assert.equal(r.code, 0, r.stderr);
    const v = JSON.parse(r.stdout) as {
      Satisfied: boolean;
      Digest: string;
      Signatures: Array<{ Accepted: boolean; Key?: string; FoundBy: string }>;
    };
    assert.equal(v.Digest, img.manifest.digest.toString());
    assert.deepEqual(
      v.Signatures.map((x) => [x.Accepted, x.FoundBy]),
      [
        [false, "cosign-tag"],
        [true, "cosign-tag"],
      ],
    );
    assert.equal(v.Signatures[1]!.Key, opensslFingerprint(keys.ec!.pub));
  });

  it("a valid signature of another image does not count", async () => {
    const a = await buildImage({ seed: "verify-a" });
    const b = await buildImage({ seed: "verify-b" });
    await pushImage(reg, "swap", "a", a);
    await pushImage(reg, "swap", "b", b);
    // B's genuine signature, stored under A's .sig tag.
    const bSig = sig(b.manifest, keys.ec!, repo("swap"));
    await pushAll(reg, "swap", [{ ...bSig, tag: `sha256-${a.manifest.digest.hex}.sig` }]);
    refused(await dray(["verify", `docker://${repo("swap")}:a`, "--key", keys.ec!.pub]), /it signs another image, sha256:/);
  });

  it("repository mismatch is refused; --signed-identity verifies a mirror under its upstream name", async () => {
    const img = await buildImage({ seed: "verify-mirror" });
    await pushImage(reg, "mirror", "1", img);
    await pushAll(reg, "mirror", [sig(img.manifest, keys.ec!, "docker.io/library/upstream")]);
    refused(await dray(["verify", `docker://${repo("mirror")}:1`, "--key", keys.ec!.pub]), /signed for docker\.io\/library\/upstream/);
    const ok = await dray(["verify", `docker://${repo("mirror")}:1`, "--key", keys.ec!.pub, "--signed-identity", "upstream"]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  });

  it("an unsigned image: exit 6", async () => {
    await pushImage(reg, "unsigned", "1", await buildImage({ seed: "verify-unsigned" }));
    const r = await dray(["verify", `docker://${repo("unsigned")}:1`, "--key", keys.ec!.pub]);
    assert.equal(r.code, 6);
    assert.match(r.stderr, /^dray: docker:\/\/.*unsigned:1: refused by the signature policy: no signature found$/m);
  });

  it("a signature whose blob is missing is reported, not a crash", async () => {
    const img = await buildImage({ seed: "verify-missing" });
    await pushImage(reg, "missing", "1", img);
    const s = sig(img.manifest, keys.ec!, repo("missing"));
    await pushAll(reg, "missing", [s]);
    const client = new TestRegistryClient(reg);
    try {
      const res = await client.request(`/v2/missing/blobs/${s.blobs[1]!.digest}`, { method: "DELETE" });
      assert.equal(res.status, 202);
    } finally {
      await client.close();
    }
    refused(
      await dray(["verify", `docker://${repo("missing")}:1`, "--key", keys.ec!.pub]),
      /its blob sha256:[0-9a-f]{64} cannot be read: its blob is missing/,
    );
  });

  it("a signature manifest with 10,000 layers costs bounded work and is reported", async () => {
    const img = await buildImage({ seed: "verify-huge" });
    const layout = makeTempDir("dray-verify-huge-");
    const payload = cosignPayload(img.manifest.digest.toString(), "example.com/app");
    const huge = cosignSignature(
      img.manifest.digest,
      [{ payload, annotations: { "dev.cosignproject.cosign/signature": opensslSign(keys.ec!.key, payload, dir) } }],
      9999,
    );
    await writeLayout(layout, [{ manifest: img.manifest, blobs: [img.config, ...img.layers], tag: "1" }, huge]);
    const started = Date.now();
    const r = await dray(["verify", `oci:${layout}:1`, "--key", keys.ec!.pub, "--signed-identity", "example.com/app"]);
    refused(r, /10000 layers: more than 100 signatures in one manifest are not read/);
    assert.ok(Date.now() - started < 20_000);
  });

  describe("an index", () => {
    let index: BuiltIndex;
    before(async () => {
      index = await buildIndex({ seed: "verify-index", platforms: ["linux/amd64", "linux/arm64/v8"] });
      await pushImage(reg, "multiarch", "1", index);
      await pushAll(reg, "multiarch", [sig(index.manifest, keys.ec!, repo("multiarch"))]);
    });

    it("a signature on the index covers its children (cosign's reading); --require-each wants one on each platform image", async () => {
      const ok = await dray(["verify", `docker://${repo("multiarch")}:1`, "--key", keys.ec!.pub]);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      const each = await dray(["verify", `docker://${repo("multiarch")}:1`, "--key", keys.ec!.pub, "--require-each"]);
      refused(each, /2 of 2 platform images carry no accepted signature of their own \(--require-each\)/);
      await pushAll(reg, "multiarch", [sig(index.images[0]!.manifest, keys.ec!, repo("multiarch"))]);
      refused(await dray(["verify", `docker://${repo("multiarch")}:1`, "--key", keys.ec!.pub, "--require-each"]), /1 of 2 platform images/);
      await pushAll(reg, "multiarch", [sig(index.images[1]!.manifest, keys.ec!, repo("multiarch"))]);
      const all = await dray(["verify", `docker://${repo("multiarch")}:1`, "--key", keys.ec!.pub, "--require-each"]);
      assert.equal(all.code, 0, all.stdout + all.stderr);
      assert.match(all.stdout, /^ {2}docker:.*multiarch:1 \(linux\/arm64\/v8\) sha256:[0-9a-f]{64}: verified$/m);
    });
  });

  describe("--policy: containers-policy.json", () => {
    let policy: string;
    before(async () => {
      const img = await buildImage({ seed: "verify-policy" });
      for (const r of ["team/app", "team/other", "open"]) await pushImage(reg, r, "1", img);
      await pushAll(reg, "team/app", [sig(img.manifest, keys.ec!, repo("team/app"))]);
      await pushAll(reg, "team/other", [sig(img.manifest, keys.ec!, repo("team/other"))]);
      policy = join(dir, "policy.json");
      await writeFile(
        policy,
        JSON.stringify({
          default: [{ type: "reject" }],
          transports: {
            docker: {
              [repo("team")]: [{ type: "sigstoreSigned", keyPath: keys.ec!.pub, signedIdentity: { type: "matchRepository" } }],
              [repo("team/other")]: [{ type: "sigstoreSigned", keyPath: keys.rsa!.pub, signedIdentity: { type: "matchRepository" } }],
              [repo("open")]: [{ type: "insecureAcceptAnything" }],
            },
            "docker-daemon": { "": [{ type: "insecureAcceptAnything" }] },
          },
        }),
      );
    });

    it("the most specific scope decides: a namespace, a repository, insecureAcceptAnything, the default reject", async () => {
      assert.equal((await dray(["verify", `docker://${repo("team/app")}:1`, "--policy", policy])).code, 0);
      refused(await dray(["verify", `docker://${repo("team/other")}:1`, "--policy", policy]), /not signed by key/);
      assert.equal((await dray(["verify", `docker://${repo("open")}:1`, "--policy", policy])).code, 0);
      refused(
        await dray(["verify", `docker://${repo("unsigned")}:1`, "--policy", policy]),
        /the policy rejects every image here \(reject\)/,
      );
    });

    it("matchRepoDigestOrExact (the policy default) refuses cosign's tagless identity for a tag, as skopeo does", async () => {
      const p = join(dir, "exact.json");
      await writeFile(p, JSON.stringify({ default: [{ type: "sigstoreSigned", keyPath: keys.ec!.pub }] }));
      refused(await dray(["verify", `docker://${repo("team/app")}:1`, "--policy", p]), /signed for .*team\/app, not .*team\/app:1/);
    });

    it("signedBy (GPG) and unknown types are usage errors (exit 2) before anything is read", async () => {
      for (const [req, msg] of [
        [{ type: "signedBy", keyType: "GPGKeys", keyPath: "/nonexistent" }, /signedBy \(GPG simple signing\) is not supported/],
        [{ type: "somethingElse" }, /unknown requirement type "somethingElse"/],
      ] as const) {
        const p = join(dir, "bad.json");
        await writeFile(p, JSON.stringify({ default: [req] }));
        const r = await dray(["verify", "docker://127.0.0.1:1/nothing:1", "--policy", p]);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, msg);
      }
    });
  });

  describe("dray copy --verify-key: the gate", () => {
    it("a signed image is copied with its signature; skopeo finds both at the destination", async () => {
      const img = await buildImage({ seed: "gate-signed" });
      await pushImage(reg, "gate/src", "1", img);
      await pushAll(reg, "gate/src", [sig(img.manifest, keys.ec!, repo("gate/src"))]);
      const r = await dray(["copy", `docker://${repo("gate/src")}:1`, `docker://${repo("gate/dst")}:1`, "--verify-key", keys.ec!.pub]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /verified docker:\/\/.*gate\/src:1 sha256:[0-9a-f]{64}: 1 signature accepted \(cosign, key SHA256:/);
      const tags = JSON.parse((await skopeo(["list-tags", `docker://${repo("gate/dst")}`], { tlsVerify: false })).stdout) as {
        Tags: string[];
      };
      assert.deepEqual(tags.Tags.sort(), ["1", `sha256-${img.manifest.digest.hex}.sig`].sort());
      // Downstream, the mirror verifies under its upstream name.
      const again = await dray(["verify", `docker://${repo("gate/dst")}:1`, "--key", keys.ec!.pub, "--signed-identity", repo("gate/src")]);
      assert.equal(again.code, 0, again.stdout + again.stderr);
    });

    it("an unsigned or wrongly signed image: exit 6, nothing at the destination", async () => {
      const img = await buildImage({ seed: "gate-unsigned" });
      await pushImage(reg, "gate/bad", "1", img);
      refused(
        await dray(["copy", `docker://${repo("gate/bad")}:1`, `docker://${repo("gate/nothing")}:1`, "--verify-key", keys.ec!.pub]),
        /no signature found/,
      );
      await pushAll(reg, "gate/bad", [sig(img.manifest, keys.other!, repo("gate/bad"))]);
      refused(
        await dray(["copy", `docker://${repo("gate/bad")}:1`, `docker://${repo("gate/nothing")}:1`, "--verify-key", keys.ec!.pub]),
        /not signed by key/,
      );
      const r = await skopeo(["list-tags", `docker://${repo("gate/nothing")}`], { tlsVerify: false });
      assert.notEqual(r.code, 0, r.stdout);
      const blobs = execFileSync("find", [reg.storageDir, "-path", "*gate/nothing*"]).toString();
      assert.equal(blobs, "");
    });
  });
});
