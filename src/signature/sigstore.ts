// Cosign simple signing and Sigstore bundles, checked by Sigstore's own
// verifier (@sigstore/verify): a cosign `.sig` layer is turned into the v0.1
// bundle it is (a message signature over the payload, its certificate chain,
// its Rekor entry with the signed entry timestamp), so both formats meet the
// same code for chains, SCTs, log proofs and signatures.
import { createHash, createPublicKey, verify as nodeVerify, type KeyObject } from "node:crypto";
import { assertBundle, bundleFromJSON, type Bundle } from "@sigstore/bundle";
import { pem, X509Certificate } from "@sigstore/core";
import { toSignedEntity, Verifier, type SignedEntity, type TrustMaterial } from "@sigstore/verify";
import { isObject } from "../json.js";
import { identityMatches, type SignedRequirement } from "./policy.js";
import { emptyTrustMaterial } from "./trust.js";
import { defined } from "../defined.js";

/** What one signature was found to say, and whether the requirement accepts it. */
export interface SignerFacts {
  /** Key fingerprint (keyed signatures). */
  key?: string;
  /** Certificate identity (SAN) and OIDC issuer (keyless signatures). */
  identity?: string;
  issuer?: string;
  /** When the transparency log integrated the entry (ISO 8601), from a checked proof. */
  logTime?: string;
}

export interface SigstoreVerdict extends SignerFacts {
  accepted: boolean;
  reason?: string;
}

const FULCIO_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1";
const FULCIO_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8";

/** Identity and issuer a Fulcio certificate names, for output even when it is not trusted. */
export function certificateFacts(cert: X509Certificate): { identity?: string; issuer?: string } {
  const v2 = cert.extension(FULCIO_ISSUER_V2);
  const issuer = v2 ? v2.valueObj.subs[0]?.value.toString("ascii") : cert.extension(FULCIO_ISSUER_V1)?.value.toString("ascii");
  const identity = cert.subjectAltName;
  return defined({ identity, issuer });
}

/** The cosign `dev.sigstore.cosign/bundle` annotation: Rekor's answer with its signed entry timestamp. */
interface RekorBundle {
  SignedEntryTimestamp: string;
  Payload: { body: string; integratedTime: number; logIndex: number; logID: string };
}

function parseRekorBundle(text: string): RekorBundle | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return "its Rekor bundle annotation is not JSON";
  }
  if (!isObject(v) || typeof v.SignedEntryTimestamp !== "string" || !isObject(v.Payload)) return "its Rekor bundle annotation is malformed";
  const p = v.Payload;
  if (typeof p.body !== "string" || typeof p.integratedTime !== "number" || typeof p.logIndex !== "number" || typeof p.logID !== "string")
    return "its Rekor bundle annotation is malformed";
  // Every field RekorBundle declares was checked just above; the typings cannot narrow a Record to it.
  return v as unknown as RekorBundle;
}

/** A cosign simple-signing layer as the v0.1 Sigstore bundle it amounts to. */
export function cosignLayerBundle(
  payload: Buffer,
  annotations: Record<string, string>,
): { bundle: Bundle; cert?: X509Certificate } | string {
  const signature = annotations["dev.cosignproject.cosign/signature"];
  if (!signature) return "no dev.cosignproject.cosign/signature annotation";
  const certPem = annotations["dev.sigstore.cosign/certificate"];
  const chainPem = annotations["dev.sigstore.cosign/chain"];
  const rekorText = annotations["dev.sigstore.cosign/bundle"];
  const tlogEntries: unknown[] = [];
  if (rekorText) {
    const rb = parseRekorBundle(rekorText);
    if (typeof rb === "string") return rb;
    let kind = "hashedrekord";
    let version = "0.0.1";
    try {
      const body: unknown = JSON.parse(Buffer.from(rb.Payload.body, "base64").toString("utf8"));
      if (isObject(body) && typeof body.kind === "string" && typeof body.apiVersion === "string") {
        kind = body.kind;
        version = body.apiVersion;
      }
    } catch {
      return "its Rekor entry body is not JSON";
    }
    tlogEntries.push({
      logIndex: String(rb.Payload.logIndex),
      logId: { keyId: Buffer.from(rb.Payload.logID, "hex").toString("base64") },
      kindVersion: { kind, version },
      integratedTime: String(rb.Payload.integratedTime),
      inclusionPromise: { signedEntryTimestamp: rb.SignedEntryTimestamp },
      canonicalizedBody: rb.Payload.body,
    });
  }
  let cert: X509Certificate | undefined;
  let certificates: { rawBytes: string }[] = [];
  if (certPem) {
    try {
      const blocks = [
        certPem,
        ...(chainPem ? (chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) : []),
      ];
      if (blocks.length > 10) return "its certificate chain is longer than 10 certificates";
      certificates = blocks.map((b) => ({ rawBytes: pem.toDER(b).toString("base64") }));
      cert = X509Certificate.parse(certPem);
    } catch {
      return "its certificate is not a valid PEM certificate";
    }
  }
  const json = {
    mediaType: "application/vnd.dev.sigstore.bundle+json;version=0.1",
    verificationMaterial: {
      ...(certificates.length > 0 ? { x509CertificateChain: { certificates } } : { publicKey: { hint: "" } }),
      tlogEntries,
      timestampVerificationData: { rfc3161Timestamps: [] },
    },
    messageSignature: {
      messageDigest: { algorithm: "SHA2_256", digest: createHash("sha256").update(payload).digest("base64") },
      signature,
    },
  };
  try {
    const bundle = bundleFromJSON(json);
    assertBundle(bundle);
    return { bundle, ...defined({ cert }) };
  } catch (err) {
    return `it does not form a valid signature: ${(err as Error).message}`;
  }
}

/** A bundle's JSON (v0.1 to v0.3), validated by @sigstore/bundle. */
export function parseBundle(bytes: Buffer): { bundle: Bundle; cert?: X509Certificate } | string {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch {
    return "the bundle is not JSON";
  }
  try {
    const bundle = bundleFromJSON(doc);
    assertBundle(bundle);
    const vm = bundle.verificationMaterial.content;
    const der =
      vm.$case === "certificate"
        ? vm.certificate.rawBytes
        : vm.$case === "x509CertificateChain"
          ? vm.x509CertificateChain.certificates[0]?.rawBytes
          : undefined;
    if (vm.$case === "x509CertificateChain" && vm.x509CertificateChain.certificates.length > 10)
      return "its certificate chain is longer than 10 certificates";
    return { bundle, ...(der ? { cert: X509Certificate.parse(Buffer.from(der)) } : {}) };
  } catch (err) {
    return `not a valid Sigstore bundle: ${(err as Error).message}`;
  }
}

function logTimeOf(entity: SignedEntity): string | undefined {
  const t = entity.tlogEntries.find((e) => e.integratedTime !== "0" && e.integratedTime !== "")?.integratedTime;
  return t === undefined ? undefined : new Date(Number(t) * 1000).toISOString();
}

function reasonOf(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const msg = e.message ?? String(err);
  return e.code ? `${e.code.toLowerCase().replace(/_/g, " ")}: ${msg}` : msg;
}

/**
 * A keyed check without a log to check against: the signature alone. An
 * Ed25519 message signature is over the artifact itself (no digest), which
 * the library's message check (always a SHA-2 digest) does not do.
 */
function verifyBare(entity: SignedEntity, key: KeyObject, artifact: Buffer | undefined, message: boolean): boolean {
  if (key.asymmetricKeyType === "ed25519" && message && artifact) {
    try {
      return nodeVerify(null, artifact, key, entity.signature.signature);
    } catch {
      return false;
    }
  }
  return entity.signature.verifySignature(key);
}

/**
 * Checks one bundle against `req`'s keys and keyless trust. `artifact` is the
 * signed bytes of a message signature (a cosign payload, an image manifest);
 * a DSSE envelope carries its own. Whether the signed content names the image
 * is the caller's check.
 */
export function verifySigstore(
  bundle: Bundle,
  cert: X509Certificate | undefined,
  artifact: Buffer | undefined,
  req: SignedRequirement,
): SigstoreVerdict {
  const facts: SignerFacts = cert ? certificateFacts(cert) : {};
  const reasons: string[] = [];
  const base = (): SignedEntity => toSignedEntity(bundle, artifact);
  // Keys first: cosign --key checks a signature against the key even when it also carries a certificate.
  for (const k of req.keys) {
    const entity: SignedEntity = { ...base(), key: { $case: "public-key", hint: "" } };
    const withLog = entity.tlogEntries.length > 0 && req.tlogs.length > 0;
    if (req.requireTlog && !withLog) {
      reasons.push(
        entity.tlogEntries.length === 0 ? "no transparency-log entry (--require-tlog)" : "no trusted Rekor key to check its log entry",
      );
      continue;
    }
    if (withLog) {
      const trust: TrustMaterial = {
        ...emptyTrustMaterial(),
        tlogs: req.tlogs,
        timestampAuthorities: req.timestampAuthorities,
        publicKey: () => ({ publicKey: k.key, validFor: () => true }),
      };
      const rfc3161 = entity.timestamps.filter((t) => t.$case === "timestamp-authority").length;
      try {
        new Verifier(trust, { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: rfc3161 > 0 ? 1 : 0 }).verify(
          rfc3161 > 0 && req.timestampAuthorities.length === 0
            ? { ...entity, timestamps: entity.timestamps.filter((t) => t.$case !== "timestamp-authority") }
            : entity,
        );
        return { accepted: true, ...facts, key: k.fingerprint, ...logTime(entity) };
      } catch (err) {
        reasons.push(`key ${k.fingerprint}: ${reasonOf(err)}`);
        continue;
      }
    }
    if (verifyBare(entity, k.key, artifact, bundle.content.$case === "messageSignature"))
      return { accepted: true, ...facts, key: k.fingerprint };
    reasons.push(`not signed by key ${k.fingerprint}`);
  }
  if (cert && req.keyless) {
    try {
      const entity = base();
      const trust = withChainOf(bundle, req.keyless.trust);
      if (!entity.tlogEntries.length && !entity.timestamps.some((t) => t.$case === "timestamp-authority"))
        throw new Error("a keyless signature needs a transparency-log entry or a timestamp (its certificate is valid for minutes only)");
      let identity: string | undefined;
      let issuer: string | undefined;
      if (trust.ctlogs.length > 0) {
        const signer = new Verifier(trust, {
          tlogThreshold: entity.tlogEntries.length > 0 ? 1 : 0,
          ctlogThreshold: 1,
          timestampThreshold: 1,
        }).verify(entity);
        identity = signer.identity?.subjectAlternativeName;
        issuer = signer.identity?.extensions?.issuer;
      } else {
        ({ identity, issuer } = verifyWithoutCtLogs(entity, cert, trust));
      }
      if (!req.keyless.identities.some((m) => identityMatches(m, identity, issuer)))
        return {
          accepted: false,
          ...facts,
          ...logTime(entity),
          reason: `certificate identity ${identity ?? "(none)"} issued by ${issuer ?? "(none)"} is not one the policy trusts`,
        };
      return { accepted: true, ...facts, ...logTime(entity) };
    } catch (err) {
      reasons.push(reasonOf(err));
    }
  } else if (cert && req.keys.length === 0) {
    reasons.push("a keyless signature, and no certificate identity is trusted (--certificate-identity with --trusted-root)");
  } else if (!cert && req.keys.length === 0) {
    reasons.push("a keyed signature, and no key is trusted (--key)");
  }
  return { accepted: false, ...facts, reason: reasons.join("; ") || "no trust material applies" };
}

/**
 * Keyless trust with no CT log to check the certificate's SCTs against (a
 * containers-policy.json's `fulcio` names a CA and Rekor keys only, and
 * containers/image checks no SCT): the library's verifier refuses any SCT of
 * an unknown log, so it checks the signature, the log entry and the log time
 * with the certificate's key as a keyed signature valid for the certificate's
 * lifetime, and the chain is walked here with @sigstore/core's certificate
 * checks (issuer signature, CA flag, validity at the log time).
 */
function verifyWithoutCtLogs(entity: SignedEntity, cert: X509Certificate, trust: TrustMaterial): { identity?: string; issuer?: string } {
  const times: Date[] = [];
  const keyed: TrustMaterial = {
    ...trust,
    publicKey: () => ({
      publicKey: createPublicKey({ key: cert.publicKey, format: "der", type: "spki" }),
      validFor: (d: Date) => {
        times.push(d);
        return cert.validForDate(d);
      },
    }),
  };
  new Verifier(keyed, { tlogThreshold: entity.tlogEntries.length > 0 ? 1 : 0, ctlogThreshold: 0, timestampThreshold: 1 }).verify({
    ...entity,
    key: { $case: "public-key", hint: "" },
  });
  const chained = trust.certificateAuthorities.some((ca) => chainsTo(cert, ca.certChain, times));
  if (!chained) throw new Error("certificate error: the certificate does not chain to a trusted Fulcio CA");
  return certificateFacts(cert);
}

/** True when `leaf` leads through `chain` (intermediates first, root last) to its self-signed root, every link valid at `times`. */
function chainsTo(leaf: X509Certificate, chain: X509Certificate[], times: Date[]): boolean {
  let current = leaf;
  for (let hops = 0; hops <= chain.length; hops++) {
    const issuer = chain.find((c) => c !== current && c.isCA && safeVerify(current, c));
    if (!issuer || !times.every((t) => issuer.validForDate(t))) return false;
    if (safeVerify(issuer, issuer)) return true; // the root
    current = issuer;
  }
  return false;
}

/**
 * A containers-policy.json `fulcio.caPath` names the root alone, while cosign
 * stores the intermediate beside the certificate (`dev.sigstore.cosign/chain`).
 * The signature's intermediates join a CA's chain only when each is issued by a
 * certificate already in it (the root, or an intermediate admitted before), so
 * nothing the signature brings is trusted for itself.
 */
function withChainOf(bundle: Bundle, trust: TrustMaterial): TrustMaterial {
  const vm = bundle.verificationMaterial.content;
  if (vm.$case !== "x509CertificateChain" || vm.x509CertificateChain.certificates.length < 2) return trust;
  let offered: X509Certificate[];
  try {
    offered = vm.x509CertificateChain.certificates.slice(1).map((c) => X509Certificate.parse(Buffer.from(c.rawBytes)));
  } catch {
    return trust;
  }
  const certificateAuthorities = trust.certificateAuthorities.map((ca) => {
    const admitted: X509Certificate[] = [];
    for (let grew = true; grew;) {
      grew = false;
      for (const c of offered) {
        if (admitted.includes(c) || ca.certChain.some((t) => t.equals(c))) continue;
        if ([...admitted, ...ca.certChain].some((issuer) => c.isCA && safeVerify(c, issuer))) {
          admitted.push(c);
          grew = true;
        }
      }
    }
    return admitted.length === 0 ? ca : { ...ca, certChain: [...admitted.reverse(), ...ca.certChain] };
  });
  return { ...trust, certificateAuthorities };
}

function safeVerify(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.verify(issuer);
  } catch {
    return false;
  }
}

function logTime(entity: SignedEntity): { logTime?: string } {
  const t = logTimeOf(entity);
  return t ? { logTime: t } : {};
}
