// Signing keys for `dray sign` and `--sign-key`: PEM PKCS#8 (and the SEC1 /
// PKCS#1 forms openssl also writes) for ECDSA P-256/P-384, Ed25519 and RSA,
// and cosign's encrypted private key (`ENCRYPTED SIGSTORE PRIVATE KEY`, or
// `ENCRYPTED COSIGN PRIVATE KEY` before cosign 2): a JSON document holding a
// scrypt KDF and a NaCl secretbox (XSalsa20-Poly1305) around the PKCS#8 DER,
// the format of go-securesystemslib's `encrypted` package that cosign uses.
// The secretbox is @noble/ciphers' (audited, maintained); scrypt is Node's.
// The private key lives in a KeyObject only: never printed, never written.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  scrypt as scryptCb,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from "node:crypto";
import { secretbox } from "@noble/ciphers/salsa.js";
import { UsageError } from "../errors.js";
import { readInputFile } from "../input-file.js";
import { isObject } from "../json.js";
import { keyFingerprint } from "./trust.js";

/** A private key ready to sign, and how its public half is named. */
export interface SigningKey {
  /** The private key (never exported). */
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** `SHA256:<base64>` of the public key's SubjectPublicKeyInfo, as `dray verify` prints it. */
  readonly fingerprint: string;
  /** The bundle's key hint: base64 of the SHA-256 of the public key's DER (what cosign writes). */
  readonly hint: string;
  /** `ecdsa-p256`, `ecdsa-p384`, `ed25519`, `rsa-3072`. */
  readonly kind: string;
  /** The file it came from (messages). */
  readonly source: string;
}

/** Where a password for an encrypted key comes from; undefined when none was given. */
export type PasswordSource = () => string | undefined | Promise<string | undefined>;

/** The environment variables read for a cosign key's password, first one set wins. */
export const KEY_PASSWORD_ENV = ["DRAY_KEY_PASSWORD", "COSIGN_PASSWORD"] as const;

const MAX_KEY_FILE_BYTES = 64 * 1024;
/** scrypt's cost as cosign writes it is N=32768 (65536 in some tools); more than 2^20 is refused rather than run for minutes. */
const MAX_SCRYPT_N = 1 << 20;
const ENCRYPTED_PEM =
  /-----BEGIN ENCRYPTED (SIGSTORE|COSIGN) PRIVATE KEY-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END ENCRYPTED \1 PRIVATE KEY-----/;

function scrypt(password: Buffer, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(password, salt, 32, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** The KDF and cipher parameters of cosign's encrypted key, checked before any work is done. */
interface EncryptedKey {
  salt: Buffer;
  N: number;
  r: number;
  p: number;
  nonce: Buffer;
  ciphertext: Buffer;
}

function parseEncrypted(body: string, source: string): EncryptedKey {
  const bad = (why: string): UsageError => new UsageError(`${source}: not a cosign encrypted private key (${why})`);
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8"));
  } catch {
    throw bad("its body is not base64 JSON");
  }
  if (!isObject(doc) || !isObject(doc.kdf) || !isObject(doc.cipher) || typeof doc.ciphertext !== "string")
    throw bad("kdf, cipher, ciphertext");
  const { kdf, cipher } = doc;
  if (kdf.name !== "scrypt" || !isObject(kdf.params) || typeof kdf.salt !== "string")
    throw bad(`KDF ${JSON.stringify(kdf.name)}, not scrypt`);
  if (cipher.name !== "nacl/secretbox" || typeof cipher.nonce !== "string")
    throw bad(`cipher ${JSON.stringify(cipher.name)}, not nacl/secretbox`);
  const { N, r, p } = kdf.params;
  if (typeof N !== "number" || typeof r !== "number" || typeof p !== "number") throw bad("scrypt parameters");
  if (
    !Number.isInteger(N) ||
    N < 2 ||
    N > MAX_SCRYPT_N ||
    (N & (N - 1)) !== 0 ||
    !Number.isInteger(r) ||
    r < 1 ||
    r > 32 ||
    !Number.isInteger(p) ||
    p < 1 ||
    p > 16
  )
    throw bad(`scrypt parameters N=${N} r=${r} p=${p} out of bounds`);
  const nonce = Buffer.from(cipher.nonce, "base64");
  if (nonce.length !== 24) throw bad("a secretbox nonce is 24 bytes");
  return { salt: Buffer.from(kdf.salt, "base64"), N, r, p, nonce, ciphertext: Buffer.from(doc.ciphertext, "base64") };
}

async function decrypt(enc: EncryptedKey, password: string, source: string): Promise<Buffer> {
  const key = await scrypt(Buffer.from(password, "utf8"), enc.salt, enc.N, enc.r, enc.p);
  try {
    return Buffer.from(secretbox(key, enc.nonce).open(enc.ciphertext));
  } catch {
    throw new UsageError(`${source}: the password does not open this cosign key (wrong password, or the file is damaged)`);
  } finally {
    key.fill(0);
  }
}

function describe(key: KeyObject, source: string): string {
  const type = key.asymmetricKeyType;
  if (type === "ed25519") return "ed25519";
  if (type === "rsa") {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) throw new UsageError(`${source}: an RSA key of ${bits} bits; 2048 or more`);
    return `rsa-${bits}`;
  }
  if (type === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === "prime256v1") return "ecdsa-p256";
    if (curve === "secp384r1") return "ecdsa-p384";
    throw new UsageError(`${source}: ECDSA on ${curve ?? "an unknown curve"}; dray signs with P-256 or P-384`);
  }
  throw new UsageError(`${source}: a ${type ?? "unknown"} key; dray signs with ECDSA P-256/P-384, Ed25519 or RSA`);
}

function fromPrivate(privateKey: KeyObject, source: string): SigningKey {
  const kind = describe(privateKey, source);
  const publicKey = createPublicKey(privateKey);
  const der = publicKey.export({ type: "spki", format: "der" });
  return {
    privateKey,
    publicKey,
    fingerprint: keyFingerprint(publicKey),
    hint: createHash("sha256").update(der).digest("base64"),
    kind,
    source,
  };
}

/**
 * A signing key from PEM text. An encrypted key asks `password` (once, and
 * only then); the password itself is never part of a message.
 */
export async function parseSigningKey(pem: string, source: string, password: PasswordSource): Promise<SigningKey> {
  const enc = ENCRYPTED_PEM.exec(pem);
  if (enc) {
    const parsed = parseEncrypted(enc[2]!, source);
    const pass = await password();
    if (pass === undefined)
      throw new UsageError(
        `${source} is an encrypted cosign key: set ${KEY_PASSWORD_ENV.join(" or ")}, or pipe the password to --key-password-stdin`,
      );
    const der = await decrypt(parsed, pass, source);
    try {
      return fromPrivate(createPrivateKey({ key: der, format: "der", type: "pkcs8" }), source);
    } catch (err) {
      if (err instanceof UsageError) throw err;
      throw new UsageError(`${source}: the decrypted key is not PKCS#8`);
    } finally {
      der.fill(0);
    }
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(pem))
    throw new UsageError(
      `${source}: a PKCS#8 key encrypted by openssl; decrypt it (openssl pkey -in KEY -out PLAIN) or use cosign's format`,
    );
  if (!/-----BEGIN (RSA |EC )?PRIVATE KEY-----/.test(pem)) {
    if (/-----BEGIN PUBLIC KEY-----/.test(pem)) throw new UsageError(`${source}: a public key; signing needs the private key`);
    throw new UsageError(`${source}: not a PEM private key (-----BEGIN PRIVATE KEY----- or cosign's ENCRYPTED SIGSTORE PRIVATE KEY)`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: "pem" });
  } catch {
    throw new UsageError(`${source}: the PEM private key cannot be read`);
  }
  return fromPrivate(key, source);
}

/** Reads a signing key file (small: a file, or a pipe such as `--sign-key <(vault read …)`, read once). */
export async function loadSigningKey(path: string, password: PasswordSource): Promise<SigningKey> {
  const text = (await readInputFile(path, "signing key", MAX_KEY_FILE_BYTES)).toString("latin1");
  return parseSigningKey(text, path, password);
}

/**
 * The password from the environment (DRAY_KEY_PASSWORD, then COSIGN_PASSWORD);
 * an empty value counts (cosign keys made with an empty password).
 */
export function passwordFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const name of KEY_PASSWORD_ENV) if (env[name] !== undefined) return env[name];
  return undefined;
}

/**
 * Signs `data` as cosign and the Sigstore verifiers expect: ECDSA and RSA
 * (PKCS#1 v1.5) over its SHA-256, the signature ECDSA's ASN.1 DER; Ed25519
 * over the bytes themselves.
 */
export function signBytes(key: SigningKey, data: Buffer): Buffer {
  return nodeSign(key.privateKey.asymmetricKeyType === "ed25519" ? null : "sha256", data, key.privateKey);
}

/** Whether `signature` is the key's over `data` (signBytes' counterpart, with the public half). */
export function verifyBytes(key: SigningKey, data: Buffer, signature: Buffer): boolean {
  return nodeVerify(key.publicKey.asymmetricKeyType === "ed25519" ? null : "sha256", data, key.publicKey, signature);
}
