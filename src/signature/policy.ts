// The signature policy: containers-policy.json(5) as skopeo users write it
// (the subset that applies to dray), and the same policy built in memory from
// flags (--key, --certificate-identity, --trusted-root, ...). A policy maps a
// location to requirements; every requirement must be satisfied.
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { UsageError, whyUnreadable } from "../errors.js";
import { isObject } from "../json.js";
import type { Location } from "../ref/location.js";
import { quote, repositoryName } from "../ref/reference.js";
import { parseSignedIdentity, type SignedIdentity } from "./identity.js";
import {
  certAuthorityFromPem,
  emptyTrustMaterial,
  loadNotationTrustStore,
  loadPublicKey,
  loadTrustedRoot,
  parsePublicKey,
  rekorAuthority,
  type TLogAuthority,
  type TrustedKey,
  type TrustMaterial,
} from "./trust.js";
import type { X509Certificate as NodeX509 } from "node:crypto";
import { defined } from "../defined.js";

/** One certificate identity a keyless signature may have: each side exact or a regular expression. */
export interface IdentityMatcher {
  subject?: string;
  subjectRegexp?: RegExp;
  issuer?: string;
  issuerRegexp?: RegExp;
}

/** Keyless trust: the Fulcio CAs (and CT logs, TSAs) to chain to, and the identities accepted. */
export interface KeylessTrust {
  trust: TrustMaterial;
  identities: IdentityMatcher[];
}

/** A signature is required: any of the trust material here may accept it. */
export interface SignedRequirement {
  type: "signed";
  keys: TrustedKey[];
  keyless?: KeylessTrust;
  /** Transparency logs (Rekor keys) that a signature's log entry is checked against. */
  tlogs: TLogAuthority[];
  /** Timestamp authorities of the trusted root, for bundles that carry RFC 3161 timestamps. */
  timestampAuthorities: TrustMaterial["timestampAuthorities"];
  notation?: NodeX509[];
  signedIdentity: SignedIdentity;
  /** A keyed signature needs a transparency-log entry too (a keyless one always does). */
  requireTlog: boolean;
}

export type Requirement = { type: "insecureAcceptAnything" } | { type: "reject" } | SignedRequirement;

export interface SignaturePolicy {
  default: Requirement[];
  /** Scopes per transport (`docker`: `host`, `host/repo`, `*.domain`; `oci`, `oci-archive`: paths). */
  transports: Partial<Record<"docker" | "oci" | "oci-archive", Map<string, Requirement[]>>>;
  /** Every index child needs a signature of its own (`--require-each`). */
  requireEach: boolean;
}

/** The flag forms of trust material (dray verify, copy --verify-key, sync's verify: block). */
export interface TrustFlags {
  keys?: string[];
  certificateIdentity?: string;
  certificateIdentityRegexp?: string;
  certificateOidcIssuer?: string;
  certificateOidcIssuerRegexp?: string;
  trustedRoot?: string;
  notationTrustStore?: string;
  policy?: string;
  signedIdentity?: string;
  requireEach?: boolean;
  requireTlog?: boolean;
}

function regexp(text: string, flag: string): RegExp {
  try {
    // Anchored, as cosign's --certificate-identity-regexp is matched whole (Go's regexp.MatchString is not, but a prefix match surprises).
    return new RegExp(`^(?:${text})$`);
  } catch {
    throw new UsageError(`${flag}: invalid regular expression ${quote(text)}`);
  }
}

/** True when a certificate's identity and issuer satisfy `m`. */
export function identityMatches(m: IdentityMatcher, subject: string | undefined, issuer: string | undefined): boolean {
  if (subject === undefined || issuer === undefined) return false;
  if (m.subject !== undefined && m.subject !== subject) return false;
  if (m.subjectRegexp && !m.subjectRegexp.test(subject)) return false;
  if (m.issuer !== undefined && m.issuer !== issuer) return false;
  if (m.issuerRegexp && !m.issuerRegexp.test(issuer)) return false;
  return true;
}

/** True when any trust material was given as flags (the gate is on). */
export function hasTrustFlags(f: TrustFlags): boolean {
  return (
    (f.keys?.length ?? 0) > 0 ||
    f.policy !== undefined ||
    f.trustedRoot !== undefined ||
    f.notationTrustStore !== undefined ||
    f.certificateIdentity !== undefined ||
    f.certificateIdentityRegexp !== undefined
  );
}

/**
 * The policy the flags ask for: `--policy FILE` alone, or one signed
 * requirement built from keys, certificate flags and a notation store.
 * Checked before anything is read from a registry: a bad flag is exit 2.
 */
export async function policyFromFlags(f: TrustFlags): Promise<SignaturePolicy> {
  const keyless = f.certificateIdentity !== undefined || f.certificateIdentityRegexp !== undefined;
  const issuerGiven = f.certificateOidcIssuer !== undefined || f.certificateOidcIssuerRegexp !== undefined;
  if (f.policy !== undefined) {
    if ((f.keys?.length ?? 0) > 0 || keyless || f.notationTrustStore !== undefined || f.trustedRoot !== undefined)
      throw new UsageError("--policy carries its own trust material: give it alone, not with --key, certificate flags or --trusted-root");
    const policy = await loadPolicyFile(f.policy);
    policy.requireEach = f.requireEach === true;
    return policy;
  }
  if (f.certificateIdentity !== undefined && f.certificateIdentityRegexp !== undefined)
    throw new UsageError("give --certificate-identity or --certificate-identity-regexp, not both");
  if (f.certificateOidcIssuer !== undefined && f.certificateOidcIssuerRegexp !== undefined)
    throw new UsageError("give --certificate-oidc-issuer or --certificate-oidc-issuer-regexp, not both");
  if (keyless !== issuerGiven)
    throw new UsageError("keyless verification needs both --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp]");
  if (keyless && f.trustedRoot === undefined)
    throw new UsageError("keyless verification needs --trusted-root FILE (Sigstore's trusted_root.json)");
  if (!hasTrustFlags(f))
    throw new UsageError(
      "nothing to verify against: give --key FILE, keyless certificate flags with --trusted-root, --notation-trust-store DIR or --policy FILE",
    );
  const keys = await Promise.all((f.keys ?? []).map(loadPublicKey));
  const root = f.trustedRoot === undefined ? undefined : await loadTrustedRoot(f.trustedRoot);
  const identity: IdentityMatcher = {
    ...defined({ subject: f.certificateIdentity }),
    ...(f.certificateIdentityRegexp !== undefined
      ? { subjectRegexp: regexp(f.certificateIdentityRegexp, "--certificate-identity-regexp") }
      : {}),
    ...defined({ issuer: f.certificateOidcIssuer }),
    ...(f.certificateOidcIssuerRegexp !== undefined
      ? { issuerRegexp: regexp(f.certificateOidcIssuerRegexp, "--certificate-oidc-issuer-regexp") }
      : {}),
  };
  const req: SignedRequirement = {
    type: "signed",
    keys,
    ...(keyless && root ? { keyless: { trust: root, identities: [identity] } } : {}),
    tlogs: root?.tlogs ?? [],
    timestampAuthorities: root?.timestampAuthorities ?? [],
    ...(f.notationTrustStore !== undefined ? { notation: await loadNotationTrustStore(f.notationTrustStore) } : {}),
    // cosign's own check: the signature names the repository the image is read from (a tag is not signed by cosign).
    signedIdentity:
      f.signedIdentity !== undefined
        ? { type: "exactRepository", dockerRepository: checkedRepo(f.signedIdentity) }
        : { type: "matchRepository" },
    requireTlog: f.requireTlog === true,
  };
  return { default: [req], transports: {}, requireEach: f.requireEach === true };
}

function checkedRepo(text: string): string {
  parseSignedIdentity({ type: "exactRepository", dockerRepository: text }, "--signed-identity");
  return text;
}

const KNOWN_TRANSPORTS = new Set(["docker", "oci", "oci-archive"]);
/** Transports of containers-policy.json that dray never reads from: their scopes are accepted and ignored. */
const OTHER_TRANSPORTS = new Set(["atomic", "containers-storage", "dir", "docker-archive", "docker-daemon", "sif", "tarball"]);

/** Reads containers-policy.json(5); relative key paths are relative to the policy file. */
export async function loadPolicyFile(path: string): Promise<SignaturePolicy> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(code ? `policy ${quote(path)} ${whyUnreadable(err)}` : `policy ${quote(path)} is not JSON`);
  }
  return parsePolicy(doc, path);
}

/** A containers-policy.json document (`base` resolves relative paths). */
export async function parsePolicy(doc: unknown, base: string): Promise<SignaturePolicy> {
  const where = `policy ${quote(base)}`;
  if (!isObject(doc)) throw new UsageError(`${where}: not a JSON object`);
  for (const k of Object.keys(doc)) if (k !== "default" && k !== "transports") throw new UsageError(`${where}: unknown field ${quote(k)}`);
  if (!Array.isArray(doc.default)) throw new UsageError(`${where}: "default" must be a list of requirements`);
  const dir = dirname(resolve(base));
  const policy: SignaturePolicy = {
    default: await parseRequirements(doc.default, `${where} default`, dir),
    transports: {},
    requireEach: false,
  };
  if (doc.transports !== undefined) {
    if (!isObject(doc.transports)) throw new UsageError(`${where}: "transports" must be an object`);
    for (const [t, scopes] of Object.entries(doc.transports)) {
      if (OTHER_TRANSPORTS.has(t)) continue;
      if (!KNOWN_TRANSPORTS.has(t)) throw new UsageError(`${where}: unknown transport ${quote(t)}`);
      if (!isObject(scopes)) throw new UsageError(`${where}: transports.${t} must be an object of scopes`);
      const map = new Map<string, Requirement[]>();
      for (const [scope, reqs] of Object.entries(scopes)) {
        if (!Array.isArray(reqs)) throw new UsageError(`${where}: transports.${t}[${quote(scope)}] must be a list of requirements`);
        map.set(scope, await parseRequirements(reqs, `${where} transports.${t}[${quote(scope)}]`, dir));
      }
      policy.transports[t as "docker" | "oci" | "oci-archive"] = map;
    }
  }
  return policy;
}

async function parseRequirements(list: unknown[], where: string, dir: string): Promise<Requirement[]> {
  if (list.length === 0) throw new UsageError(`${where}: an empty list of requirements is not allowed (use insecureAcceptAnything)`);
  return Promise.all(list.map((r, i) => parseRequirement(r, `${where}[${i}]`, dir)));
}

const SIGSTORE_FIELDS = new Set([
  "type",
  "keyPath",
  "keyPaths",
  "keyData",
  "keyDatas",
  "fulcio",
  "rekorPublicKeyPath",
  "rekorPublicKeyPaths",
  "rekorPublicKeyData",
  "rekorPublicKeyDatas",
  "signedIdentity",
  // dray's own: a trusted_root.json for bundles and keyless signatures, and --require-tlog.
  "trustedRootPath",
  "requireTlog",
]);

function strings(v: unknown, where: string, field: string): string[] {
  if (v === undefined) return [];
  if (typeof v === "string") return [v];
  if (Array.isArray(v) && v.every((s) => typeof s === "string")) return v;
  throw new UsageError(`${where}: ${field} must be a string or a list of strings`);
}

function b64(text: string, where: string, field: string): string {
  const bytes = Buffer.from(text, "base64");
  if (bytes.length === 0) throw new UsageError(`${where}: ${field} is not base64`);
  return bytes.toString("latin1");
}

async function parseRequirement(r: unknown, where: string, dir: string): Promise<Requirement> {
  if (!isObject(r) || typeof r.type !== "string") throw new UsageError(`${where}: a requirement must be an object with a "type"`);
  switch (r.type) {
    case "insecureAcceptAnything":
      return { type: "insecureAcceptAnything" };
    case "reject":
      return { type: "reject" };
    case "signedBy":
      throw new UsageError(`${where}: signedBy (GPG simple signing) is not supported by dray; use sigstoreSigned`);
    case "sigstoreSigned":
      return parseSigstoreSigned(r, where, dir);
    case "notationSigned": {
      if (typeof r.trustStorePath !== "string") throw new UsageError(`${where}: notationSigned needs "trustStorePath"`);
      return {
        type: "signed",
        keys: [],
        tlogs: [],
        timestampAuthorities: [],
        notation: await loadNotationTrustStore(resolve(dir, r.trustStorePath)),
        signedIdentity: { type: "matchRepoDigestOrExact" },
        requireTlog: false,
      };
    }
    default:
      throw new UsageError(`${where}: unknown requirement type ${quote(r.type)}`);
  }
}

async function parseSigstoreSigned(r: Record<string, unknown>, where: string, dir: string): Promise<SignedRequirement> {
  for (const k of Object.keys(r)) if (!SIGSTORE_FIELDS.has(k)) throw new UsageError(`${where}: unknown sigstoreSigned field ${quote(k)}`);
  const keys: TrustedKey[] = [];
  for (const p of [...strings(r.keyPath, where, "keyPath"), ...strings(r.keyPaths, where, "keyPaths")])
    keys.push(await loadPublicKey(resolve(dir, p)));
  for (const [i, d] of [...strings(r.keyData, where, "keyData"), ...strings(r.keyDatas, where, "keyDatas")].entries())
    keys.push(parsePublicKey(b64(d, where, "keyData"), `${where} keyData[${i}]`));
  const rekorKeys: TrustedKey[] = [];
  for (const p of [
    ...strings(r.rekorPublicKeyPath, where, "rekorPublicKeyPath"),
    ...strings(r.rekorPublicKeyPaths, where, "rekorPublicKeyPaths"),
  ])
    rekorKeys.push(await loadPublicKey(resolve(dir, p)));
  for (const [i, d] of [
    ...strings(r.rekorPublicKeyData, where, "rekorPublicKeyData"),
    ...strings(r.rekorPublicKeyDatas, where, "rekorPublicKeyDatas"),
  ].entries())
    rekorKeys.push(parsePublicKey(b64(d, where, "rekorPublicKeyData"), `${where} rekorPublicKeyData[${i}]`));
  const root = typeof r.trustedRootPath === "string" ? await loadTrustedRoot(resolve(dir, r.trustedRootPath)) : undefined;
  let keyless: KeylessTrust | undefined;
  if (r.fulcio !== undefined) {
    const f = r.fulcio;
    if (!isObject(f)) throw new UsageError(`${where}: fulcio must be an object`);
    if (typeof f.oidcIssuer !== "string" || typeof f.subjectEmail !== "string")
      throw new UsageError(`${where}: fulcio needs "oidcIssuer" and "subjectEmail"`);
    const trust = root ? { ...root } : emptyTrustMaterial();
    if (typeof f.caPath === "string") {
      const pem = await readFile(resolve(dir, f.caPath), "utf8").catch(() => {
        throw new UsageError(`${where}: fulcio caPath ${quote(f.caPath as string)} cannot be read`);
      });
      trust.certificateAuthorities = [certAuthorityFromPem(pem, `${where} fulcio caPath`)];
    } else if (typeof f.caData === "string") {
      trust.certificateAuthorities = [certAuthorityFromPem(b64(f.caData, where, "fulcio caData"), `${where} fulcio caData`)];
    } else if (!root) throw new UsageError(`${where}: fulcio needs "caPath" or "caData" (or dray's "trustedRootPath")`);
    keyless = { trust, identities: [{ subject: f.subjectEmail, issuer: f.oidcIssuer }] };
  }
  if (keys.length === 0 && !keyless) throw new UsageError(`${where}: sigstoreSigned needs keyPath(s), keyData(s) or fulcio`);
  if (keyless && rekorKeys.length === 0 && !root)
    throw new UsageError(
      `${where}: fulcio needs rekorPublicKeyPath(s) or rekorPublicKeyData(s): a keyless signature is checked by its log entry`,
    );
  const tlogs = [...(root?.tlogs ?? []), ...rekorKeys.map(rekorAuthority)];
  if (keyless) keyless.trust = { ...keyless.trust, tlogs };
  return {
    type: "signed",
    keys,
    ...defined({ keyless }),
    tlogs,
    timestampAuthorities: root?.timestampAuthorities ?? [],
    signedIdentity: r.signedIdentity === undefined ? { type: "matchRepoDigestOrExact" } : parseSignedIdentity(r.signedIdentity, where),
    requireTlog: r.requireTlog === true,
  };
}

/**
 * The requirements for `loc`, as containers/image looks them up: the most
 * specific docker scope (`host/ns/repo`, then each parent namespace, the host,
 * `*.domain` wildcards), or a layout path and its parents, else `default`.
 */
export function requirementsFor(policy: SignaturePolicy, loc: Location): Requirement[] {
  if (loc.transport === "docker") {
    const scopes = policy.transports.docker;
    if (scopes) {
      const repo = repositoryName(loc.ref);
      const candidates: string[] = [];
      if (loc.ref.tag !== undefined) candidates.push(`${repo}:${loc.ref.tag}`);
      if (loc.ref.digest) candidates.push(`${repo}@${loc.ref.digest}`);
      for (let name = repo; ;) {
        candidates.push(name);
        const slash = name.lastIndexOf("/");
        if (slash < 0) break;
        name = name.slice(0, slash);
      }
      const host = loc.ref.domain.replace(/:\d+$/, "");
      const labels = host.split(".");
      for (let i = 1; i < labels.length; i++) candidates.push(`*.${labels.slice(i).join(".")}`);
      for (const c of candidates) {
        const found = scopes.get(c);
        if (found) return found;
      }
      const any = scopes.get("");
      if (any) return any;
    }
    return policy.default;
  }
  if (loc.transport === "oci" || loc.transport === "oci-archive") {
    const scopes = policy.transports[loc.transport];
    if (scopes) {
      for (let p = resolve(loc.path); ; p = dirname(p)) {
        const found = scopes.get(p);
        if (found) return found;
        if (dirname(p) === p) break;
      }
      const any = scopes.get("");
      if (any) return any;
    }
  }
  return policy.default;
}
