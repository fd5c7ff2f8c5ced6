#!/usr/bin/env node
// Generates the Sigstore bundle fixtures of test/signature/ with Sigstore's own
// signing library (@sigstore/sign) against its mock Fulcio, CT log and Rekor
// (@sigstore/mock, answering through nock: nothing leaves the process). Run
// once; the output is committed: `node scripts/signature-fixtures.mjs`.
//
// Writes test/fixtures/signature/generated/:
//   image/             an OCI layout with one small image (the subject)
//   trusted_root.json  the mock Fulcio CA and Rekor key
//   keyed.pub          the public key of the keyed bundles
//   other.pub          a key that signed nothing here
//   bundles/*.json     bundles over the image: keyless DSSE (v0.1, v0.2, v0.3),
//                      keyless message signature (v0.3), keyed DSSE with and
//                      without a log entry, and a keyless DSSE over another digest
import { createHash, generateKeyPairSync, sign as nodeSign } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const nock = require("nock");
const { initializeCA, fulcioHandler, initializeTLog, rekorHandler } = require("@sigstore/mock");
const { DSSEBundleBuilder, MessageSignatureBundleBuilder, FulcioSigner, RekorWitness } = require("@sigstore/sign");
const { bundleToJSON } = require("@sigstore/bundle");

const OUT = join(import.meta.dirname, "..", "test", "fixtures", "signature", "generated");
const FULCIO = "https://fulcio.mock.test";
const REKOR = "https://rekor.mock.test";
const IDENTITY = "alice@example.com";
const ISSUER = "https://issuer.example.com";

nock.disableNetConnect();

const sha256 = (b) => createHash("sha256").update(b).digest("hex");
const der = (k) => k.export({ type: "spki", format: "der" });

/** A tiny image: one layer (a tar of one file would do; the bytes are what they are), an OCI config, an OCI manifest. */
function buildImage() {
  const layer = Buffer.from("dray signature fixture layer\n");
  const config = Buffer.from(
    JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [`sha256:${sha256(layer)}`] }, config: {} }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: `sha256:${sha256(config)}`, size: config.length },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: `sha256:${sha256(layer)}`, size: layer.length }],
    }),
  );
  return { layer, config, manifest };
}

async function writeLayout(dir, img) {
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  for (const b of [img.layer, img.config, img.manifest]) await writeFile(join(dir, "blobs", "sha256", sha256(b)), b);
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(
    join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: `sha256:${sha256(img.manifest)}`,
          size: img.manifest.length,
          annotations: { "org.opencontainers.image.ref.name": "signed" },
        },
      ],
    }),
  );
}

/** An unsigned JWT: the mock Fulcio decodes it without checking (strict mode reads the claims only). */
function token() {
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${enc({ alg: "none", typ: "JWT" })}.${enc({ iss: ISSUER, sub: IDENTITY, email: IDENTITY, email_verified: true, aud: "sigstore" })}.`;
}

function statement(hex, name) {
  return Buffer.from(
    JSON.stringify({
      _type: "https://in-toto.io/Statement/v1",
      subject: [{ name, digest: { sha256: hex } }],
      predicateType: "https://sigstore.dev/cosign/sign/v1",
      predicate: {},
    }),
  );
}

/** A local key as @sigstore/sign's Signer (a keyed signature, as `cosign sign --key` makes). */
function keySigner(privateKey, publicKey) {
  return {
    sign: async (data) => ({
      signature: nodeSign("sha256", data, privateKey),
      key: { $case: "publicKey", publicKey: publicKey.export({ type: "spki", format: "pem" }).toString(), hint: "" },
    }),
  };
}

/** The same bundle as an older version: v0.2 keeps the inclusion proof, v0.1 needs the promise; both hold the certificate as a chain. */
function asVersion(json, version) {
  const out = JSON.parse(JSON.stringify(json));
  out.mediaType = `application/vnd.dev.sigstore.bundle+json;version=${version}`;
  const vm = out.verificationMaterial;
  if (vm.certificate) {
    vm.x509CertificateChain = { certificates: [vm.certificate] };
    delete vm.certificate;
  }
  return out;
}

async function main() {
  await rm(OUT, { recursive: true, force: true });
  await mkdir(join(OUT, "bundles"), { recursive: true });
  const img = buildImage();
  await writeLayout(join(OUT, "image"), img);
  const hex = sha256(img.manifest);

  const caKeys = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const rekorKeys = generateKeyPairSync("ec", { namedCurve: "P-256" });
  // No CT log: the mock's embedded SCTs do not parse with @sigstore/core 3.2 ("request past end of buffer"),
  // so the certificates carry none and the trusted root lists no CT log (dray then asks for no SCT).
  const ca = await initializeCA(caKeys);
  const tlog = await initializeTLog(REKOR, rekorKeys);
  const fulcio = fulcioHandler(ca, { subjectClaim: "email" });
  const rekor = rekorHandler(tlog);
  const reply = (h) => async (_uri, body) => {
    const r = await h.fn(typeof body === "string" ? body : JSON.stringify(body));
    return [r.statusCode, r.response, { "Content-Type": r.contentType ?? "text/plain" }];
  };
  nock(FULCIO).post(fulcio.path).reply(reply(fulcio)).persist();
  nock(REKOR).post(rekor.path).reply(reply(rekor)).persist();

  const start = "2020-01-01T00:00:00Z";
  const root = {
    mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    tlogs: [
      {
        baseUrl: REKOR,
        hashAlgorithm: "SHA2_256",
        publicKey: { rawBytes: der(rekorKeys.publicKey).toString("base64"), keyDetails: "PKIX_ECDSA_P256_SHA_256", validFor: { start } },
        logId: { keyId: createHash("sha256").update(der(rekorKeys.publicKey)).digest("base64") },
      },
    ],
    certificateAuthorities: [
      {
        subject: { organization: "mock", commonName: "mock fulcio" },
        uri: FULCIO,
        certChain: { certificates: [{ rawBytes: ca.rootCertificate.toString("base64") }] },
        validFor: { start },
      },
    ],
    ctlogs: [],
    timestampAuthorities: [],
  };
  await writeFile(join(OUT, "trusted_root.json"), `${JSON.stringify(root, null, 2)}\n`);

  const keyless = new FulcioSigner({ fulcioBaseURL: FULCIO, identityProvider: { getToken: async () => token() } });
  const witness = new RekorWitness({ rekorBaseURL: REKOR, entryType: "intoto" }); // the mock's dsse entries fail @sigstore/verify 3.x's body check ("signature count mismatch")
  const write = (name, json) => writeFile(join(OUT, "bundles", `${name}.json`), `${JSON.stringify(json, null, 2)}\n`);

  const dsse = bundleToJSON(
    await new DSSEBundleBuilder({ signer: keyless, witnesses: [witness] }).create({
      data: statement(hex, "example.test/app"),
      type: "application/vnd.in-toto+json",
    }),
  );
  await write("keyless-dsse-v0.3", dsse);
  await write("keyless-dsse-v0.2", asVersion(dsse, "0.2"));
  await write("keyless-dsse-v0.1", asVersion(dsse, "0.1"));
  const other = bundleToJSON(
    await new DSSEBundleBuilder({ signer: keyless, witnesses: [witness] }).create({
      data: statement(sha256(Buffer.from("another image")), "example.test/app"),
      type: "application/vnd.in-toto+json",
    }),
  );
  await write("keyless-dsse-other-image", other);
  const message = bundleToJSON(
    await new MessageSignatureBundleBuilder({ signer: keyless, witnesses: [new RekorWitness({ rekorBaseURL: REKOR })] }).create({
      data: img.manifest,
    }),
  );
  await write("keyless-message-v0.3", message);

  const keyed = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const otherKey = generateKeyPairSync("ec", { namedCurve: "P-256" });
  await writeFile(join(OUT, "keyed.pub"), keyed.publicKey.export({ type: "spki", format: "pem" }));
  await writeFile(join(OUT, "other.pub"), otherKey.publicKey.export({ type: "spki", format: "pem" }));
  const signer = keySigner(keyed.privateKey, keyed.publicKey);
  await write(
    "keyed-dsse-tlog-v0.3",
    bundleToJSON(
      await new DSSEBundleBuilder({ signer, witnesses: [witness] }).create({
        data: statement(hex, "example.test/app"),
        type: "application/vnd.in-toto+json",
      }),
    ),
  );
  await write(
    "keyed-dsse-v0.3",
    bundleToJSON(
      await new DSSEBundleBuilder({ signer, witnesses: [] }).create({
        data: statement(hex, "example.test/app"),
        type: "application/vnd.in-toto+json",
      }),
    ),
  );
  process.stdout.write(`wrote ${OUT} (image sha256:${hex})\n`);
}

await main();
