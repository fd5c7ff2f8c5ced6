// Notation (notaryproject) JWS envelopes, `application/jose+json`, checked
// with node:crypto against an x509 trust store: the protected header and
// payload signed by the leaf certificate of `x5c`, the chain up to a
// certificate of the store, the payload naming the image. COSE envelopes
// (`application/cose`) are refused with a message, not misread.
import { verify as nodeVerify, X509Certificate } from "node:crypto";
import { isObject } from "../json.js";
import type { SignedRequirement } from "./policy.js";

export const NOTATION_ARTIFACT_TYPE = "application/vnd.cncf.notary.signature";
export const JWS_MEDIA_TYPE = "application/jose+json";
export const COSE_MEDIA_TYPE = "application/cose";

export interface NotationVerdict {
  accepted: boolean;
  reason?: string;
  /** The leaf certificate's subject, for output. */
  identity?: string;
  issuer?: string;
  signingTime?: string;
  /** The digest the payload's targetArtifact names. */
  signedDigest?: string;
}

const ALGS: Record<string, { hash: string; pss: boolean }> = {
  PS256: { hash: "sha256", pss: true },
  PS384: { hash: "sha384", pss: true },
  PS512: { hash: "sha512", pss: true },
  ES256: { hash: "sha256", pss: false },
  ES384: { hash: "sha384", pss: false },
  ES512: { hash: "sha512", pss: false },
};

const b64url = (s: string): Buffer => Buffer.from(s, "base64url");

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch {
    return undefined;
  }
}

/** Checks a JWS envelope's signature and chain against the trust store; the caller compares `signedDigest` with the image's. */
export function verifyNotationJws(bytes: Buffer, req: SignedRequirement, now: Date = new Date()): NotationVerdict {
  const env = parseJson(bytes);
  if (!isObject(env) || typeof env.payload !== "string" || typeof env.protected !== "string" || typeof env.signature !== "string")
    return { accepted: false, reason: "not a JWS envelope (payload, protected, signature)" };
  const header = isObject(env.header) ? env.header : {};
  const x5c = Array.isArray(header.x5c) ? header.x5c : [];
  if (x5c.length === 0 || x5c.length > 10 || !x5c.every((c) => typeof c === "string"))
    return { accepted: false, reason: "the envelope's x5c certificate chain is missing or longer than 10" };
  const prot = parseJson(b64url(env.protected));
  const payload = parseJson(b64url(env.payload));
  if (!isObject(prot) || typeof prot.alg !== "string") return { accepted: false, reason: "the protected header is malformed" };
  const alg = ALGS[prot.alg];
  if (!alg) return { accepted: false, reason: `unsupported JWS algorithm ${prot.alg}` };
  let chain: X509Certificate[];
  try {
    chain = x5c.map((c) => new X509Certificate(Buffer.from(c as string, "base64")));
  } catch {
    return { accepted: false, reason: "the envelope's x5c holds something that is not a certificate" };
  }
  const leaf = chain[0]!;
  const target = isObject(payload) && isObject(payload.targetArtifact) ? payload.targetArtifact : undefined;
  const facts = {
    identity: leaf.subject.replace(/\n/g, ", "),
    issuer: leaf.issuer.replace(/\n/g, ", "),
    ...(typeof prot["io.cncf.notary.signingTime"] === "string" ? { signingTime: prot["io.cncf.notary.signingTime"] } : {}),
    ...(target && typeof target.digest === "string" ? { signedDigest: target.digest } : {}),
  };
  if (!req.notation)
    return { accepted: false, ...facts, reason: "a notation signature, and no notation trust store is given (--notation-trust-store)" };
  const signed = Buffer.from(`${env.protected}.${env.payload}`, "ascii");
  let ok: boolean;
  try {
    ok = nodeVerify(
      alg.hash,
      signed,
      alg.pss
        ? { key: leaf.publicKey, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: Number(alg.hash.slice(3)) / 8 }
        : { key: leaf.publicKey, dsaEncoding: "ieee-p1363" },
      b64url(env.signature),
    );
  } catch {
    ok = false;
  }
  if (!ok) return { accepted: false, ...facts, reason: "the JWS signature does not verify with its certificate" };
  for (let i = 0; i < chain.length; i++) {
    const c = chain[i]!;
    if (new Date(c.validFrom) > now || new Date(c.validTo) < now)
      return { accepted: false, ...facts, reason: `certificate ${c.subject.replace(/\n/g, ", ")} is not valid now` };
    const next = chain[i + 1];
    if (next && !(c.checkIssued(next) && c.verify(next.publicKey))) return { accepted: false, ...facts, reason: "the x5c chain is broken" };
  }
  const top = chain[chain.length - 1]!;
  const anchored = req.notation.some((t) => t.fingerprint256 === top.fingerprint256 || (top.checkIssued(t) && top.verify(t.publicKey)));
  if (!anchored) return { accepted: false, ...facts, reason: "the certificate chain does not lead to the notation trust store" };
  if (!target || typeof target.digest !== "string")
    return { accepted: false, ...facts, reason: "the payload names no targetArtifact digest" };
  return { accepted: true, ...facts };
}
