// Trust material, all of it offline: public keys (PEM), a Sigstore
// trusted_root.json (Fulcio CAs, Rekor keys, CT logs, TSAs), Rekor keys and
// Fulcio CAs named one by one (containers-policy.json's rekorPublicKeyPath,
// fulcio.caPath), and a notation trust store. Keys are Node KeyObjects;
// certificates are parsed by @sigstore/core (trust material for the Sigstore
// verifier) or by node:crypto (notation), never by hand.
import { createHash, createPublicKey, X509Certificate as NodeX509, type KeyObject } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { X509Certificate } from "@sigstore/core";
import { TrustedRoot } from "@sigstore/protobuf-specs";
import { toTrustMaterial, type TrustMaterial } from "@sigstore/verify";
import { UsageError } from "../errors.js";
import { readInputFile } from "../input-file.js";
import { quote } from "../ref/reference.js";

type TLogAuthority = TrustMaterial["tlogs"][number];
type CertAuthority = TrustMaterial["certificateAuthorities"][number];

/** A public key the user trusts, and how messages name it. */
export interface TrustedKey {
  key: KeyObject;
  /** `SHA256:<base64>` of the key's SubjectPublicKeyInfo, as ssh-keygen -l prints fingerprints. */
  fingerprint: string;
  /** Where it came from (a file name, `keyData`). */
  source: string;
}

/** Trust files are small; anything larger is not one (and is not read whole). */
const MAX_TRUST_FILE_BYTES = 4 * 1024 * 1024;
const ALWAYS = { start: new Date(0), end: new Date(8.64e15) };

/** A trust file; a pipe (`--key <(openssl pkey …)`) is read once, to its end. */
function readTrustFile(path: string, what: string): Promise<Buffer> {
  return readInputFile(path, what, MAX_TRUST_FILE_BYTES);
}

/** `SHA256:<base64>` of the SubjectPublicKeyInfo. */
export function keyFingerprint(key: KeyObject): string {
  const der = key.export({ type: "spki", format: "der" });
  return `SHA256:${createHash("sha256").update(der).digest("base64").replace(/=+$/, "")}`;
}

const SUPPORTED_CURVES = new Set(["prime256v1", "secp384r1", "secp521r1"]);

/** A PEM public key (ECDSA P-256/P-384/P-521, RSA, Ed25519); `source` names it in messages. */
export function parsePublicKey(pem: string | Buffer, source: string): TrustedKey {
  // node:crypto derives a public key from a private one; cosign and containers/image refuse a private key here,
  // and so does dray: a signing secret has no business on a verifying machine.
  if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(pem.toString("latin1")))
    throw new UsageError(`${source}: a private key, not a public one; give its public key (openssl pkey -in KEY -pubout)`);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: "pem" });
  } catch {
    throw new UsageError(`${source}: not a PEM public key (-----BEGIN PUBLIC KEY-----)`);
  }
  const type = key.asymmetricKeyType;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (!(type === "rsa" || type === "ed25519" || (type === "ec" && curve !== undefined && SUPPORTED_CURVES.has(curve))))
    throw new UsageError(
      `${source}: unsupported key type ${type ?? "unknown"}${curve ? ` (${curve})` : ""}; ECDSA P-256/P-384/P-521, RSA or Ed25519`,
    );
  return { key, fingerprint: keyFingerprint(key), source };
}

export async function loadPublicKey(path: string): Promise<TrustedKey> {
  return parsePublicKey(await readTrustFile(path, "key file"), path);
}

/** The Sigstore verifier's material from a trusted_root.json (Sigstore's own parser, @sigstore/protobuf-specs). */
export async function loadTrustedRoot(path: string): Promise<TrustMaterial> {
  const bytes = await readTrustFile(path, "trusted root");
  try {
    return toTrustMaterial(TrustedRoot.fromJSON(JSON.parse(bytes.toString("utf8"))));
  } catch (err) {
    throw new UsageError(`trusted root ${quote(path)} is not a Sigstore trusted_root.json: ${(err as Error).message}`);
  }
}

/** A Rekor public key as a transparency-log authority (its log ID is the SHA-256 of the key's DER). */
export function rekorAuthority(k: TrustedKey): TLogAuthority {
  const der = k.key.export({ type: "spki", format: "der" });
  return { logID: createHash("sha256").update(der).digest(), baseURL: "", publicKey: k.key, validFor: ALWAYS };
}

/** PEM certificates in a file, in order (a CA file of a containers policy, a notation trust store entry). */
export function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** A Fulcio CA given as PEM (containers-policy.json's fulcio.caPath/caData): one chain, issuer last. */
export function certAuthorityFromPem(pem: string, source: string): CertAuthority {
  const blocks = splitPem(pem);
  if (blocks.length === 0) throw new UsageError(`${source}: no PEM certificate in it`);
  try {
    return { certChain: blocks.map((b) => X509Certificate.parse(b)), validFor: ALWAYS };
  } catch (err) {
    throw new UsageError(`${source}: not a certificate: ${(err as Error).message}`);
  }
}

/** Trust material with nothing in it, to be filled piece by piece. */
export function emptyTrustMaterial(): TrustMaterial {
  return {
    certificateAuthorities: [],
    timestampAuthorities: [],
    tlogs: [],
    ctlogs: [],
    publicKey: () => {
      throw new Error("no public key in this trust material");
    },
  };
}

/** A notation trust store: every PEM certificate in DIR and below (notation's `x509/ca/NAME/*.pem` layout included). */
export async function loadNotationTrustStore(dir: string): Promise<NodeX509[]> {
  const out: NodeX509[] = [];
  const walk = async (d: string, depth: number): Promise<void> => {
    if (depth > 4) return;
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      throw new UsageError(`notation trust store ${quote(d)} cannot be read`);
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p, depth + 1);
      else if (e.isFile() && /\.(pem|crt|cer)$/i.test(e.name)) {
        const text = (await readTrustFile(p, "certificate")).toString("latin1");
        for (const b of splitPem(text)) {
          try {
            out.push(new NodeX509(b));
          } catch {
            throw new UsageError(`notation trust store: ${quote(p)} holds something that is not a certificate`);
          }
        }
      }
    }
  };
  await walk(dir, 0);
  if (out.length === 0) throw new UsageError(`notation trust store ${quote(dir)} holds no certificate (*.pem, *.crt)`);
  return out;
}

export type { TrustMaterial, TLogAuthority, CertAuthority };
