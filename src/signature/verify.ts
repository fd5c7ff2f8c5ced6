// `dray verify LOC` and the gate of copy and sync: the image's signatures are
// found the way `dray referrers` finds referrers (referrers API, tag-schema
// index, cosign `.sig` tags), read with bounds (manifests and the small
// signature blobs only), and held against the policy's requirements.
import { createHash } from "node:crypto";
import { DrayError, NotFoundError, SignatureRefusedError, isAbortError } from "../errors.js";
import { readSmallBlob } from "../image/read.js";
import { Digest } from "../oci/digest.js";
import { parseRawManifest, type Descriptor, type ImageManifest, type RawManifest } from "../oci/manifest.js";
import { formatLocation, type Location } from "../ref/location.js";
import { openSource } from "../transport/index.js";
import { RepositoryFactory } from "../transport/repository.js";
import type { Referrer, ReferrerFoundBy, Repository, TransportOptions } from "../transport/types.js";
import { isObject } from "../json.js";
import { checkSignedIdentity } from "./identity.js";
import { imageReferenceOf, openImageRepository } from "./locate.js";
import { COSE_MEDIA_TYPE, JWS_MEDIA_TYPE, NOTATION_ARTIFACT_TYPE, verifyNotationJws } from "./notation.js";
import { requirementsFor, type Requirement, type SignaturePolicy, type SignedRequirement } from "./policy.js";
import { cosignLayerBundle, parseBundle, verifySigstore, type SignerFacts } from "./sigstore.js";
import { defined } from "../defined.js";

export const COSIGN_SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json";
const BUNDLE_PREFIX = "application/vnd.dev.sigstore.bundle";

/** A referrer's artifact type that says it is a signature dray reads (a Sigstore bundle, a notation envelope). */
function isSignatureType(t: string): boolean {
  return t === NOTATION_ARTIFACT_TYPE || t.startsWith(BUNDLE_PREFIX);
}

/** Signature blobs (payloads, bundles, envelopes) are small; a larger one is reported, not read. */
export const MAX_SIGNATURE_BLOB_BYTES = 1024 * 1024;
/** Signatures read from one cosign manifest; cosign appends one layer per signature. */
export const MAX_LAYERS_PER_SIGNATURE_MANIFEST = 100;
/** Referrers considered per image. */
export const MAX_SIGNATURE_MANIFESTS = 256;

export type SignatureKind = "cosign" | "bundle" | "notation";

/** One signature considered, and what became of it. */
export interface SignatureCheck extends SignerFacts {
  kind: SignatureKind;
  /** The referrer manifest that holds it, and how it was found. */
  manifest: string;
  foundBy: ReferrerFoundBy;
  /** The bundle's media type version, a cosign layer's index. */
  detail?: string;
  accepted: boolean;
  reason?: string;
}

/** The verdict on one image (and, for an index with --require-each, on each child). */
export interface ImageVerification {
  location: string;
  digest: string;
  mediaType: string;
  satisfied: boolean;
  /** Why not, in one line. */
  reason?: string;
  signatures: SignatureCheck[];
  /** The index's children, when each must be signed (--require-each). */
  children?: ImageVerification[];
}

export interface VerifyImageOptions {
  policy: SignaturePolicy;
  transport?: TransportOptions;
  signal?: AbortSignal;
  /**
   * The repository the image is read from when the caller has it open (sync:
   * one client per repository, a mirror archive's repository), and the tag or
   * digest there; `loc` then only names the image (messages, identity, scopes).
   */
  repository?: { repo: Repository; ref: string | Digest };
}

interface Candidate {
  kind: SignatureKind;
  manifest: string;
  foundBy: ReferrerFoundBy;
  detail?: string;
  /** Undefined when the signature could be read; else why it cannot count. */
  unreadable?: string;
  check?: (req: SignedRequirement) => Omit<SignatureCheck, "kind" | "manifest" | "foundBy" | "detail">;
}

function describeError(err: unknown): string {
  if (err instanceof NotFoundError) return "its blob is missing";
  if (err instanceof DrayError) return err.message;
  return (err as Error).message;
}

class SignatureReader {
  constructor(
    private readonly loc: Location,
    private readonly repo: Repository,
    private readonly opts: VerifyImageOptions,
  ) {}

  /** The repository's tags, listed once for the image and its children (they say which referrer tags exist). */
  private tags: Promise<ReadonlySet<string>> | undefined;

  /** The signatures that refer to `image` (the image, an index or a child), through the transport's one referrers discovery. */
  async candidates(image: RawManifest): Promise<Candidate[]> {
    const signal = this.opts.signal;
    this.tags ??= this.repo
      .listTags(signal ? { signal } : {})
      .then((t) => new Set(t))
      .catch((err: unknown) => {
        if (err instanceof NotFoundError) return new Set<string>();
        throw err;
      });
    const out: Candidate[] = [];
    const { referrers } = await this.repo.referrers(image.digest, {
      ...defined({ signal }),
      tags: await this.tags,
      // One way of finding that fails (the API, the index, a cosign tag) is reported; the others still count.
      onError: (err, foundBy, tag) => {
        if (isAbortError(err)) return;
        out.push({
          kind: foundBy === "cosign-tag" ? "cosign" : "bundle",
          manifest: tag ?? "(referrers)",
          foundBy,
          unreadable: `cannot be listed: ${describeError(err)}`,
        });
      },
    });
    // A lookup the signal cut short found nothing: that is an interruption, not "no signature found".
    signal?.throwIfAborted();
    for (const r of referrers.slice(0, MAX_SIGNATURE_MANIFESTS)) {
      signal?.throwIfAborted();
      if (r.foundBy === "cosign-tag" && !r.tag?.endsWith(".sig")) continue; // .att, .sbom
      out.push(...(await this.read(r, image)));
    }
    return out;
  }

  private async read(r: Referrer, image: RawManifest): Promise<Candidate[]> {
    const digest = r.descriptor.digest.toString();
    const base = { manifest: digest, foundBy: r.foundBy };
    // A listed artifactType says at once what is not a signature (SBOMs, attestations): their manifests stay unread.
    const listed = r.descriptor.artifactType;
    if (r.foundBy !== "cosign-tag" && listed !== undefined && !isSignatureType(listed)) return [];
    let parsed;
    try {
      parsed = parseRawManifest(
        await this.repo.getManifest(r.descriptor.digest, this.opts.signal ? { signal: this.opts.signal } : {}),
        `${this.repo.display}@${digest}`,
      );
    } catch (err) {
      if (isAbortError(err)) throw err;
      return [
        {
          kind: r.foundBy === "cosign-tag" ? "cosign" : "bundle",
          ...base,
          unreadable: `its manifest cannot be read: ${describeError(err)}`,
        },
      ];
    }
    if (r.foundBy === "cosign-tag") {
      if (parsed.kind !== "manifest") return [{ kind: "cosign", ...base, unreadable: "an index, not a signature manifest" }];
      return this.cosign(parsed, base, image);
    }
    const type = parsed.artifactType ?? (parsed.kind === "manifest" ? parsed.config.mediaType : undefined) ?? "";
    if (!isSignatureType(type)) return [];
    const kind: SignatureKind = type === NOTATION_ARTIFACT_TYPE ? "notation" : "bundle";
    if (parsed.kind !== "manifest") return [{ kind, ...base, unreadable: "an index, not a signature manifest" }];
    const layer = parsed.layers[0];
    if (!layer || parsed.layers.length > MAX_LAYERS_PER_SIGNATURE_MANIFEST)
      return [{ kind, ...base, unreadable: `${parsed.layers.length} layers where one is expected` }];
    const bytes = await this.blob(digest, layer);
    if (typeof bytes === "string") return [{ kind, ...base, unreadable: bytes }];
    if (kind === "notation") {
      if (layer.mediaType === COSE_MEDIA_TYPE)
        return [{ kind, ...base, detail: "cose", unreadable: "a COSE envelope: dray checks notation's JWS envelopes only" }];
      if (layer.mediaType !== JWS_MEDIA_TYPE) return [{ kind, ...base, unreadable: `unknown envelope type ${layer.mediaType}` }];
      return [{ kind, ...base, detail: "jws", check: (req) => notationCheck(bytes, req, image.digest) }];
    }
    const b = parseBundle(bytes);
    if (typeof b === "string") return [{ kind, ...base, unreadable: b }];
    const detail =
      b.bundle.mediaType
        .replace(/^application\/vnd\.dev\.sigstore\.bundle/, "")
        .replace(/^[.+;]*/, "")
        .replace(/\+json$/, "")
        .replace(/^json;version=/, "v") || b.bundle.mediaType;
    return [{ kind, ...base, detail, check: (req) => bundleCheck(b.bundle, b.cert, image, req) }];
  }

  private async cosign(m: ImageManifest, base: Pick<Candidate, "manifest" | "foundBy">, image: RawManifest): Promise<Candidate[]> {
    const kind = "cosign" as const;
    if (m.layers.length > MAX_LAYERS_PER_SIGNATURE_MANIFEST)
      return [
        {
          kind,
          ...base,
          unreadable: `${m.layers.length} layers: more than ${MAX_LAYERS_PER_SIGNATURE_MANIFEST} signatures in one manifest are not read`,
        },
      ];
    const out: Candidate[] = [];
    for (const [i, layer] of m.layers.entries()) {
      if (layer.mediaType !== COSIGN_SIMPLESIGNING) continue;
      const detail = m.layers.length > 1 ? `layer ${i}` : undefined;
      const head = { kind, ...base, ...(detail ? { detail } : {}) };
      const payload = await this.blob(base.manifest, layer);
      if (typeof payload === "string") {
        out.push({ ...head, unreadable: payload });
        continue;
      }
      const b = cosignLayerBundle(payload, layer.annotations ?? {});
      if (typeof b === "string") out.push({ ...head, unreadable: b });
      else out.push({ ...head, check: (req) => cosignCheck(payload, b.bundle, b.cert, image, this.loc, req) });
    }
    if (out.length === 0) return [{ kind, ...base, unreadable: "no simple-signing layer in the signature manifest" }];
    return out;
  }

  /** A signature blob, bounded and digest-checked; a string says why it cannot be had. */
  async blob(manifest: string, layer: Descriptor): Promise<Buffer | string> {
    if (layer.size > MAX_SIGNATURE_BLOB_BYTES)
      return `its blob ${layer.digest} of ${layer.size} bytes exceeds the ${MAX_SIGNATURE_BLOB_BYTES}-byte limit`;
    try {
      const source = await this.repo.openSource({ digest: Digest.parse(manifest) });
      try {
        const signal = this.opts.signal ? { signal: this.opts.signal } : {};
        return await readSmallBlob(source, layer, {
          max: MAX_SIGNATURE_BLOB_BYTES,
          where: `${this.repo.display} blob ${layer.digest}`,
          ...signal,
        });
      } finally {
        await source.close();
      }
    } catch (err) {
      if (isAbortError(err)) throw err;
      return `its blob ${layer.digest} cannot be read: ${describeError(err)}`;
    }
  }
}

type Verdict = Omit<SignatureCheck, "kind" | "manifest" | "foundBy" | "detail">;

/** The cosign payload: the digest it signs, and the identity. */
function cosignPayload(payload: Buffer): { digest: string; identity: string } | string {
  let doc: unknown;
  try {
    doc = JSON.parse(payload.toString("utf8"));
  } catch {
    return "its payload is not JSON";
  }
  const critical = isObject(doc) && isObject(doc.critical) ? doc.critical : undefined;
  const digest = critical && isObject(critical.image) ? critical.image["docker-manifest-digest"] : undefined;
  const identity = critical && isObject(critical.identity) ? critical.identity["docker-reference"] : undefined;
  if (typeof digest !== "string" || typeof identity !== "string")
    return "its payload lacks critical.image.docker-manifest-digest or critical.identity.docker-reference";
  if (critical?.type !== "cosign container image signature")
    return `its payload type is ${JSON.stringify(critical?.type)}, not a cosign container image signature`;
  return { digest, identity };
}

function cosignCheck(
  payload: Buffer,
  bundle: Parameters<typeof verifySigstore>[0],
  cert: Parameters<typeof verifySigstore>[1],
  image: RawManifest,
  loc: Location,
  req: SignedRequirement,
): Verdict {
  const v = verifySigstore(bundle, cert, payload, req);
  if (!v.accepted) return v;
  const p = cosignPayload(payload);
  if (typeof p === "string") return { ...v, accepted: false, reason: p };
  if (p.digest !== image.digest.toString()) return { ...v, accepted: false, reason: `it signs another image, ${p.digest}` };
  const why = checkSignedIdentity(req.signedIdentity, imageReferenceOf(loc), p.identity);
  return why ? { ...v, accepted: false, reason: why } : v;
}

/** A bundle names the image by its in-toto statement's subject (DSSE), or signs the manifest bytes (message signature). */
function bundleCheck(
  bundle: Parameters<typeof verifySigstore>[0],
  cert: Parameters<typeof verifySigstore>[1],
  image: RawManifest,
  req: SignedRequirement,
): Verdict {
  if (bundle.content.$case === "dsseEnvelope") {
    const env = bundle.content.dsseEnvelope;
    if (env.payloadType !== "application/vnd.in-toto+json")
      return { accepted: false, reason: `its DSSE payload is ${env.payloadType}, not an in-toto statement` };
    let statement: unknown;
    try {
      statement = JSON.parse(env.payload.toString("utf8"));
    } catch {
      return { accepted: false, reason: "its in-toto statement is not JSON" };
    }
    const subjects = isObject(statement) && Array.isArray(statement.subject) ? statement.subject : [];
    const hex = image.digest.hex;
    const alg = image.digest.algorithm;
    const names = subjects.some((s) => isObject(s) && isObject(s.digest) && s.digest[alg] === hex);
    const v = verifySigstore(bundle, cert, undefined, req);
    if (!v.accepted) return v;
    return names ? v : { ...v, accepted: false, reason: "its in-toto statement's subject is another image" };
  }
  const digest = bundle.content.messageSignature.messageDigest?.digest;
  const v = verifySigstore(bundle, cert, image.bytes, req);
  if (!v.accepted) return v;
  if (digest && !digest.equals(createHash("sha256").update(image.bytes).digest()))
    return { ...v, accepted: false, reason: "it signs another artifact" };
  return v;
}

function notationCheck(bytes: Buffer, req: SignedRequirement, digest: Digest): Verdict {
  const v = verifyNotationJws(bytes, req);
  const facts = {
    ...(v.identity ? { identity: v.identity } : {}),
    ...(v.issuer ? { issuer: v.issuer } : {}),
    ...(v.signingTime ? { logTime: v.signingTime } : {}),
  };
  if (!v.accepted) return { accepted: false, ...facts, reason: v.reason ?? "not accepted" };
  if (v.signedDigest !== digest.toString())
    return { accepted: false, ...facts, reason: `it signs another image, ${v.signedDigest ?? "(none)"}` };
  return { accepted: true, ...facts };
}

function describeRequirement(r: Requirement): string {
  return r.type === "signed" ? "a trusted signature" : r.type;
}

/** Holds the candidates against every requirement: each must be met (reject never, insecureAcceptAnything always, signed by one signature). */
function judge(candidates: Candidate[], reqs: Requirement[]): { satisfied: boolean; reason?: string; signatures: SignatureCheck[] } {
  const signatures: SignatureCheck[] = candidates.map((c) => ({
    kind: c.kind,
    manifest: c.manifest,
    foundBy: c.foundBy,
    ...(c.detail ? { detail: c.detail } : {}),
    accepted: false,
    ...(c.unreadable ? { reason: c.unreadable } : {}),
  }));
  let satisfied = true;
  let reason: string | undefined;
  for (const req of reqs) {
    if (req.type === "insecureAcceptAnything") continue;
    if (req.type === "reject") {
      satisfied = false;
      reason ??= "the policy rejects every image here (reject)";
      continue;
    }
    let met = false;
    candidates.forEach((c, i) => {
      if (!c.check) return;
      const v = c.check(req);
      const s = signatures[i]!;
      // A signature accepted by one requirement stays accepted; the first reason it was refused is kept.
      if (v.accepted || !s.accepted) Object.assign(s, { ...v, ...(v.accepted ? { reason: undefined } : {}) });
      if (v.accepted) {
        delete s.reason;
        met = true;
      }
    });
    if (!met) {
      satisfied = false;
      reason ??=
        candidates.length === 0
          ? "no signature found"
          : `no signature satisfies ${describeRequirement(req)} (${signatures.length} considered)`;
    }
  }
  return { satisfied, ...(reason ? { reason } : {}), signatures };
}

/**
 * Verifies the image `loc` names against the policy: its own signatures, and
 * for an index with `requireEach` each child's too. A signature on an index
 * digest covers its children (the index names them by digest), as cosign
 * treats it. Never throws for a refusal: the result says `satisfied: false`.
 */
export async function verifyImage(loc: Location, opts: VerifyImageOptions): Promise<ImageVerification> {
  const reqs = requirementsFor(opts.policy, loc);
  const signal = opts.signal ? { signal: opts.signal } : {};
  let top: RawManifest;
  if (opts.repository) top = await opts.repository.repo.getManifest(opts.repository.ref, signal);
  else {
    const source = await openSource(loc, opts.transport ?? {});
    try {
      top = await source.getManifest(undefined, signal);
    } finally {
      await source.close();
    }
  }
  const head = { location: formatLocation(loc), digest: top.digest.toString(), mediaType: top.mediaType };
  if (reqs.every((r) => r.type === "insecureAcceptAnything")) return { ...head, satisfied: true, signatures: [] };
  if (reqs.some((r) => r.type === "reject")) return { ...head, ...judge([], reqs) };
  if (opts.repository) return judgeImage(loc, opts.repository.repo, top, reqs, opts);
  if (loc.transport === "oci-archive") {
    // An archive has no repository face: its layout, unpacked beside it, has (a whole-mirror archive's REPO:TAG names as REPO's).
    const where = await openImageRepository(loc, opts.transport ?? {}, false);
    try {
      return await judgeImage(loc, where.repo, top, reqs, opts);
    } finally {
      await where.close(false);
    }
  }
  return judgeImage(loc, await new RepositoryFactory(() => opts.transport ?? {}).open(loc), top, reqs, opts);
}

/** The image's signatures (and its children's, with require-each) held against `reqs`. */
async function judgeImage(
  loc: Location,
  repo: Repository,
  top: RawManifest,
  reqs: Requirement[],
  opts: VerifyImageOptions,
): Promise<ImageVerification> {
  const head = { location: formatLocation(loc), digest: top.digest.toString(), mediaType: top.mediaType };
  const reader = new SignatureReader(loc, repo, opts);
  const own = judge(await reader.candidates(top), reqs);
  const result: ImageVerification = { ...head, ...own };
  const parsed = parseRawManifest(top, head.location);
  if (parsed.kind === "index" && opts.policy.requireEach) {
    result.children = [];
    for (const child of parsed.manifests) {
      const raw = await repo.getManifest(child.digest);
      const c = judge(await reader.candidates(raw), reqs);
      const plat = child.platform
        ? ` (${child.platform.os}/${child.platform.architecture}${child.platform.variant ? `/${child.platform.variant}` : ""})`
        : "";
      result.children.push({ location: `${head.location}${plat}`, digest: raw.digest.toString(), mediaType: raw.mediaType, ...c });
    }
    const bad = result.children.filter((c) => !c.satisfied);
    if (bad.length > 0) {
      result.satisfied = false;
      result.reason ??= `${bad.length} of ${result.children.length} platform images carry no accepted signature of their own (--require-each)`;
    }
  }
  return result;
}

/** Throws SignatureRefusedError (exit 6) unless the verification is satisfied. */
export function assertVerified(v: ImageVerification): void {
  if (!v.satisfied)
    throw new SignatureRefusedError(`${v.location}: refused by the signature policy: ${v.reason ?? "no accepted signature"}`, {
      where: v.location,
    });
}
