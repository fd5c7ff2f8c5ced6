// Notation envelopes made by notation (notaryproject/notation-go's test
// data): a JWS envelope checked against a trust store holding its signing
// certificate, tamper cases, and a COSE envelope refused by name.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { verifyNotationJws } from "../../src/signature/notation.js";
import type { SignedRequirement } from "../../src/signature/policy.js";
import { dray } from "../cli/run.js";
import { makeTempDir } from "../helpers/tmp.js";
import { FIXTURES, blob, opensslKey, referrer, referrersIndex, writeLayout } from "./artifacts.js";
import { execFileSync } from "node:child_process";
import { Digest } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/mediatype.js";

const JWS = readFileSync(join(FIXTURES, "notation", "jwsWithTimestamp.sig"));

/** The envelope's own signing certificate (self-signed), as a trust store would hold it. */
function signingCert(): X509Certificate {
  const env = JSON.parse(JWS.toString("utf8")) as { header: { x5c: string[] } };
  return new X509Certificate(Buffer.from(env.header.x5c[0]!, "base64"));
}

function requirement(store: X509Certificate[]): SignedRequirement {
  return {
    type: "signed",
    keys: [],
    tlogs: [],
    timestampAuthorities: [],
    notation: store,
    signedIdentity: { type: "matchRepository" },
    requireTlog: false,
  };
}

describe("notation JWS envelopes (notation-go's test data)", () => {
  it("accepted against a trust store with its certificate; it names the digest notation signed", () => {
    const v = verifyNotationJws(JWS, requirement([signingCert()]));
    assert.equal(v.accepted, true, v.reason);
    assert.equal(v.signedDigest, "sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda");
    assert.match(v.identity ?? "", /CN=alpine/);
  });

  it("another trust store refuses it; an altered payload fails the signature", () => {
    const dir = makeTempDir("dray-notation-");
    const k = opensslKey(dir, "ca", "ec");
    const pem = execFileSync("openssl", ["req", "-new", "-x509", "-key", k.key, "-subj", "/CN=other", "-days", "1"]).toString();
    const other = verifyNotationJws(JWS, requirement([new X509Certificate(pem)]));
    assert.equal(other.accepted, false);
    assert.match(other.reason ?? "", /does not lead to the notation trust store/);
    const env = JSON.parse(JWS.toString("utf8")) as { payload: string };
    const payload = JSON.parse(Buffer.from(env.payload, "base64url").toString("utf8")) as { targetArtifact: { digest: string } };
    payload.targetArtifact.digest = `sha256:${"1".repeat(64)}`;
    env.payload = Buffer.from(JSON.stringify(payload)).toString("base64url");
    const tampered = verifyNotationJws(Buffer.from(JSON.stringify(env)), requirement([signingCert()]));
    assert.equal(tampered.accepted, false);
    assert.match(tampered.reason ?? "", /does not verify/);
  });

  it("dray verify: a notation signature of another image does not count; a COSE envelope is refused by name", async () => {
    const cfg = blob(
      Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"config":{}}'),
      MediaType.OciConfig,
    );
    const manifestBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config: { mediaType: MediaType.OciConfig, digest: cfg.digest.toString(), size: cfg.bytes.length },
        layers: [],
      }),
    );
    const manifest = { bytes: manifestBytes, mediaType: MediaType.OciManifest, digest: Digest.of(manifestBytes) };
    const jws = referrer(manifest, "application/vnd.cncf.notary.signature", blob(JWS, "application/jose+json"));
    const cose = referrer(
      manifest,
      "application/vnd.cncf.notary.signature",
      blob(readFileSync(join(FIXTURES, "notation", "coseExpiredWithTimestamp.sig")), "application/cose"),
    );
    const dir = makeTempDir("dray-notation-layout-");
    await writeLayout(dir, [{ manifest, blobs: [cfg], tag: "1" }, jws, cose, referrersIndex(manifest.digest, [jws, cose])]);
    const store = join(makeTempDir("dray-notation-store-"), "x509", "ca", "alpine");
    mkdirSync(store, { recursive: true });
    writeFileSync(join(store, "alpine.pem"), signingCert().toString());
    const r = await dray(["verify", `oci:${dir}:1`, "--notation-trust-store", join(store, "..", "..", "..")]);
    assert.equal(r.code, 6, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /notation jws\tsha256:[0-9a-f]{64}\tidentity .*CN=alpine.* logged 2024-06-18T14:29:33\+08:00\trefused: it signs another image, sha256:c0669ef3/,
    );
    assert.match(
      r.stdout,
      /notation cose\tsha256:[0-9a-f]{64}\tsigner unknown\trefused: a COSE envelope: dray checks notation's JWS envelopes only/,
    );
  });
});
