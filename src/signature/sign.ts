// `dray sign LOC --key FILE` and the re-signing of copy and sync: offline
// signatures of an image digest, stored where cosign stores them.
//
// - bundle (default): a Sigstore bundle v0.3 as cosign 3 writes it, a DSSE
//   envelope around an in-toto statement whose subject is the image digest
//   (predicate type https://sigstore.dev/cosign/sign/v1), in an OCI 1.1
//   artifact manifest whose `subject` is the image: the referrers API, or the
//   tag schema's `sha256-<hex>` index where the store has none.
// - legacy: cosign's simple-signing payload in the `sha256-<hex>.sig`
//   manifest, one layer per signature, a new layer appended to what is there.
//
// No transparency log is written (offline): the bundle's tlogEntries are
// empty, a verifier with --require-tlog refuses these signatures. Built with
// @sigstore/bundle (toDSSEBundle, bundleToJSON) and @sigstore/core (the DSSE
// pre-authentication encoding); the signature itself is node:crypto's.
import { toDSSEBundle, bundleToJSON } from "@sigstore/bundle";
import { dsse } from "@sigstore/core";
import { DrayError, NotFoundError, RegistryError, UsageError } from "../errors.js";
import { Digest } from "../oci/digest.js";
import { parseRawManifest, rawManifestFromDocument, type Descriptor, type RawManifest } from "../oci/manifest.js";
import { MediaType } from "../oci/mediatype.js";
import { cosignTag } from "../oci/referrer-tags.js";
import { formatLocation, type Location } from "../ref/location.js";
import { writeReferrer, type PushReferrerResult, type ReferrerBlob } from "../referrers/attach.js";
import { INDEX_CONFIRM, writeUntilListed } from "../referrers/read-back.js";
import { openSource } from "../transport/index.js";
import { RepositoryFactory } from "../transport/repository.js";
import type { Repository, TransportOptions } from "../transport/types.js";
import { openImageRepository, repositoryNameOf } from "./locate.js";
import type { BeforeTag } from "../copy/types.js";
import { signBytes, verifyBytes, type SigningKey } from "./signing-key.js";
import { COSIGN_SIMPLESIGNING, verifyImage } from "./verify.js";
import type { SignedRequirement } from "./policy.js";
import { defined } from "../defined.js";

export type SignFormat = "bundle" | "legacy" | "both";

export const SIGN_FORMATS: readonly SignFormat[] = ["bundle", "legacy", "both"];
export const BUNDLE_V03_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json";
/** The predicate type of a cosign 3 image signature. */
export const COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1";
const IN_TOTO_STATEMENT = "https://in-toto.io/Statement/v1";
const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";
const SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";
/** Most signatures kept in one `.sig` manifest: verifiers read at most 100 (verify.ts). */
const MAX_LEGACY_LAYERS = 100;

export interface SignOptions {
  key: SigningKey;
  /** Default `bundle`. */
  format?: SignFormat;
  /** `--annotation K=V`: into the signed payload (legacy `optional`, the statement's predicate) and the bundle manifest. */
  annotations?: Record<string, string>;
  /** The repository the signature names (cosign's docker-reference); default the image's own (`host/repo`). */
  identity?: string;
  transport?: TransportOptions;
  signal?: AbortSignal;
  /** The bundle manifest's creation time (tests); default now. */
  now?: () => Date;
}

/** One signature written. */
export interface SignatureWritten {
  format: "bundle" | "legacy";
  /** The signature manifest's digest: the bundle's artifact manifest, or the `.sig` manifest as it is now. */
  digest: string;
  /** How the image finds it: the referrers API, the tag schema's index, or cosign's `.sig` tag. */
  via: "api" | "tag-schema" | "tag";
  tag?: string;
}

export interface SignResult {
  location: string;
  /** The signed digest and its media type. */
  digest: string;
  mediaType: string;
  identity: string | undefined;
  key: string;
  /** Always false: nothing is uploaded to a transparency log. */
  transparencyLog: false;
  signatures: SignatureWritten[];
}

/** What the subject is, as the manifests that refer to it describe it. */
export interface SignSubject {
  digest: Digest;
  mediaType: string;
  size: number;
}

function blobOf(bytes: Buffer, mediaType: string): ReferrerBlob & { bytes: Buffer } {
  return { descriptor: { mediaType, digest: Digest.of(bytes), size: bytes.length }, bytes };
}

const EMPTY_CONFIG = blobOf(Buffer.from("{}"), MediaType.OciEmpty);

function subjectJSON(s: SignSubject): Record<string, unknown> {
  return { mediaType: s.mediaType, digest: s.digest.toString(), size: s.size };
}

/** The bundle: an in-toto statement naming the image digest, in a DSSE envelope signed with `key`. */
export function makeBundle(
  subject: SignSubject,
  identity: string | undefined,
  key: SigningKey,
  annotations: Record<string, string>,
): Buffer {
  const statement = {
    _type: IN_TOTO_STATEMENT,
    subject: [{ ...(identity ? { name: identity } : {}), digest: { [subject.digest.algorithm]: subject.digest.hex } }],
    predicateType: COSIGN_SIGN_PREDICATE,
    predicate: Object.keys(annotations).length > 0 ? { annotations } : {},
  };
  const payload = Buffer.from(JSON.stringify(statement));
  const signature = signBytes(key, dsse.preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload));
  const bundle = toDSSEBundle({
    artifact: payload,
    artifactType: IN_TOTO_PAYLOAD_TYPE,
    signature,
    keyHint: key.hint,
    certificateChain: false,
  });
  return Buffer.from(JSON.stringify(bundleToJSON(bundle)));
}

/** cosign's simple-signing payload for `digest` under `identity`, annotations as its `optional` part. */
export function cosignPayload(digest: Digest, identity: string, annotations: Record<string, string>): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { "docker-reference": identity },
        image: { "docker-manifest-digest": digest.toString() },
        type: "cosign container image signature",
      },
      optional: Object.keys(annotations).length > 0 ? annotations : null,
    }),
  );
}

async function writeBundle(
  repo: Repository,
  subject: SignSubject,
  opts: SignOptions & { identity: string | undefined },
): Promise<SignatureWritten> {
  const annotations = opts.annotations ?? {};
  const bundle = blobOf(makeBundle(subject, opts.identity, opts.key, annotations), BUNDLE_V03_MEDIA_TYPE);
  const manifestAnnotations = {
    ...annotations,
    "dev.sigstore.bundle.content": "dsse-envelope",
    "dev.sigstore.bundle.predicateType": COSIGN_SIGN_PREDICATE,
    "org.opencontainers.image.created": (opts.now?.() ?? new Date()).toISOString(),
  };
  const doc = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: BUNDLE_V03_MEDIA_TYPE,
    config: { ...descriptorJSON(EMPTY_CONFIG.descriptor), data: EMPTY_CONFIG.bytes.toString("base64") },
    layers: [descriptorJSON(bundle.descriptor)],
    subject: subjectJSON(subject),
    annotations: manifestAnnotations,
  };
  const manifest = rawManifestFromDocument(doc, MediaType.OciManifest);
  const pushed = await writeReferrer(repo, { manifest, blobs: [EMPTY_CONFIG, bundle] }, opts.signal ? { signal: opts.signal } : {});
  return { format: "bundle", ...written(pushed) };
}

/** How the image finds what writeReferrer wrote. */
function written(r: PushReferrerResult): Pick<SignatureWritten, "digest" | "via" | "tag"> {
  const via = r.indexedBy === "referrers-api" ? "api" : r.indexedBy;
  const tag = r.indexedBy === "tag-schema" ? r.index?.tag : r.tag;
  return { digest: r.digest, via, ...(tag ? { tag } : {}) };
}

function descriptorJSON(d: Descriptor): Record<string, unknown> {
  return { mediaType: d.mediaType, digest: d.digest.toString(), size: d.size, ...defined({ annotations: d.annotations }) };
}

/** The `.sig` manifest's layers now, and the blobs to carry over (an image config naming each layer, as cosign's is). */
async function existingLegacy(
  repo: Repository,
  tag: string,
  signal: AbortSignal | undefined,
): Promise<{ layers: Descriptor[]; digest?: string }> {
  const s = signal ? { signal } : {};
  let head;
  try {
    head = await repo.resolve(tag, s);
  } catch (err) {
    if (err instanceof NotFoundError) return { layers: [] };
    throw err;
  }
  if (!head) return { layers: [] };
  const parsed = parseRawManifest(await repo.getManifest(head.digest, s), `${repo.display}:${tag}`);
  if (parsed.kind !== "manifest")
    throw new DrayError(`${repo.display}:${tag} is an index, not cosign's signature manifest; not appending to it`, {
      code: "E_MANIFEST_INVALID",
    });
  return { layers: parsed.layers, digest: head.digest.toString() };
}

/** A layer holding this very payload, signed by `key` already (cosign's duplicate detection: signing twice adds nothing). */
function signedAlready(layers: readonly Descriptor[], payload: Buffer, key: SigningKey): boolean {
  const digest = Digest.of(payload);
  return layers.some((l) => {
    const sig = l.annotations?.[SIGNATURE_ANNOTATION];
    return l.digest.equals(digest) && sig !== undefined && verifyBytes(key, payload, Buffer.from(sig, "base64"));
  });
}

async function writeLegacy(
  repo: Repository,
  subject: SignSubject,
  opts: SignOptions & { identity: string | undefined },
): Promise<SignatureWritten> {
  if (!opts.identity)
    throw new UsageError(
      `a legacy cosign signature names a repository: give --sign-container-identity REPO for an image in a layout or archive`,
    );
  const tag = cosignTag(subject.digest, "sig");
  const payload = blobOf(cosignPayload(subject.digest, opts.identity, opts.annotations ?? {}), COSIGN_SIMPLESIGNING);
  const signature = signBytes(opts.key, payload.bytes).toString("base64");
  const ours = { ...payload.descriptor, annotations: { [SIGNATURE_ANNOTATION]: signature } };
  // Read, append, PUT: two signers at once each PUT what they read plus their own, and the later drops the
  // earlier's layer. As for the tag schema's index (addToReferrersIndex), the tag is read back a moment after
  // the PUT and, while our signature is not in it, appended to again.
  const { state } = await writeUntilListed(
    {
      read: () => existingLegacy(repo, tag, opts.signal),
      isListed: ({ layers, digest }) => digest !== undefined && signedAlready(layers, payload.bytes, opts.key),
      write: async ({ layers }) => {
        if (layers.length >= MAX_LEGACY_LAYERS)
          throw new DrayError(
            `${repo.display}:${tag} holds ${layers.length} signatures already; verifiers read at most ${MAX_LEGACY_LAYERS}`,
            {
              code: "E_USAGE",
            },
          );
        // The layers already there stay where they are; only the new payload and the config travel.
        const all = [...layers, ours];
        const config = legacyConfig(all);
        await writeReferrer(
          repo,
          { manifest: legacyManifest(config, all), blobs: [config, payload] },
          { tag, ...defined({ signal: opts.signal }) },
        );
      },
      // No tag at all when read back is the registry's doing (a 404 after each PUT it accepted), not another writer's.
      lost: (times, { digest }) =>
        new RegistryError(
          digest
            ? `${repo.display}:${tag}: another writer replaced the signatures ${times} times; this signature is not in it`
            : `${repo.display}:${tag}: the signatures were written ${times} times but are not there when read back; this signature is not in them`,
          { where: repo.display },
        ),
    },
    { ...defined({ signal: opts.signal }), confirm: INDEX_CONFIRM },
  );
  return { format: "legacy", digest: state!.digest!, via: "tag", tag };
}

/** cosign's config is an image config whose diff_ids are the layers (go-containerregistry's mutate.Append keeps them in step). */
function legacyConfig(all: readonly Descriptor[]): ReferrerBlob {
  return blobOf(
    Buffer.from(
      JSON.stringify({
        architecture: "",
        created: "0001-01-01T00:00:00Z",
        history: all.map(() => ({ created: "0001-01-01T00:00:00Z" })),
        os: "",
        rootfs: { type: "layers", diff_ids: all.map((l) => l.digest.toString()) },
        config: {},
      }),
    ),
    MediaType.OciConfig,
  );
}

/** The `.sig` manifest: `config` (legacyConfig of `all`) and the layers `all`. */
function legacyManifest(config: ReferrerBlob, all: readonly Descriptor[]): RawManifest {
  return rawManifestFromDocument(
    { schemaVersion: 2, mediaType: MediaType.OciManifest, config: descriptorJSON(config.descriptor), layers: all.map(descriptorJSON) },
    MediaType.OciManifest,
  );
}

/**
 * Signs `subject` in `repo` (the image is there already): a bundle, a
 * legacy `.sig` layer, or both. The library face of re-signing in copy and sync.
 */
export async function signManifest(
  repo: Repository,
  subject: SignSubject,
  opts: SignOptions & { identity: string | undefined },
): Promise<SignatureWritten[]> {
  const format = opts.format ?? "bundle";
  const out: SignatureWritten[] = [];
  if (format !== "bundle" && !opts.identity)
    throw new UsageError(
      `a legacy cosign signature names a repository: give --sign-container-identity REPO for an image in a layout or archive`,
    );
  if (format === "bundle" || format === "both") out.push(await writeBundle(repo, subject, opts));
  if (format === "legacy" || format === "both") out.push(await writeLegacy(repo, subject, opts));
  return out;
}

/** The subject as `raw` describes it. */
export function subjectOf(raw: RawManifest): SignSubject {
  return { digest: raw.digest, mediaType: raw.mediaType, size: raw.bytes.length };
}

/**
 * `dray sign LOC`: signs the digest LOC names (a tag is resolved once, and
 * that digest is what is signed), in a registry, an OCI layout or an
 * oci-archive file (rewritten with the signature in it).
 */
export async function signImage(loc: Location, opts: SignOptions): Promise<SignResult> {
  const transport = opts.transport ?? {};
  const signal = opts.signal ? { signal: opts.signal } : {};
  const where = await openImageRepository(loc, transport, true);
  let done = false;
  try {
    let raw: RawManifest;
    if (where.ref !== undefined) raw = await where.repo.getManifest(where.ref, signal);
    else {
      const src = await openSource(where.repo.at({}), transport);
      try {
        raw = await src.getManifest(undefined, signal);
      } finally {
        await src.close();
      }
    }
    const identity = opts.identity ?? repositoryNameOf(where.repo);
    const signatures = await signManifest(where.repo, subjectOf(raw), { ...opts, identity });
    done = true;
    return {
      location: formatLocation(loc),
      digest: raw.digest.toString(),
      mediaType: raw.mediaType,
      identity,
      key: opts.key.fingerprint,
      transparencyLog: false,
      signatures,
    };
  } finally {
    // An archive is packed back only when every signature was written.
    await where.close(done);
  }
}

/** Re-signing on copy and sync: the key and the format, loaded before anything moves. */
export interface Resign {
  key: SigningKey;
  format: SignFormat;
}

/**
 * The formats of `resign` that `repo` lacks for `digest`: a signature by the
 * key already there, accepted as `dray verify --key` accepts it, is not
 * written again (a second sync, a copy to a second tag of the same image).
 */
async function missingFormat(
  repo: Repository,
  digest: Digest,
  resign: Resign,
  identity: string | undefined,
  signal: AbortSignal | undefined,
): Promise<SignFormat | undefined> {
  const req: SignedRequirement = {
    type: "signed",
    keys: [{ key: resign.key.publicKey, fingerprint: resign.key.fingerprint, source: resign.key.source }],
    tlogs: [],
    timestampAuthorities: [],
    signedIdentity: identity ? { type: "exactRepository", dockerRepository: identity } : { type: "matchRepository" },
    requireTlog: false,
  };
  const v = await verifyImage(repo.at({ digest }), {
    policy: { default: [req], transports: {}, requireEach: false },
    repository: { repo, ref: digest },
    ...defined({ signal }),
  });
  const has = new Set(v.signatures.filter((s) => s.accepted).map((s) => s.kind));
  const bundle = resign.format !== "legacy" && !has.has("bundle");
  const legacy = resign.format !== "bundle" && !has.has("cosign");
  return bundle && legacy ? "both" : bundle ? "bundle" : legacy ? "legacy" : undefined;
}

/**
 * Re-signing an image that was already at the destination (a copy or sync
 * found it up to date): signed in the formats asked for that no signature by
 * the key has yet, so adding --sign-key to an existing mirror, or changing
 * the key, signs what is there, and a second run writes nothing.
 */
export async function signUnlessSigned(
  repo: Repository,
  digest: Digest,
  resign: Resign,
  signal: AbortSignal | undefined,
): Promise<SignatureWritten[]> {
  const identity = repositoryNameOf(repo);
  const format = await missingFormat(repo, digest, resign, identity, signal);
  if (format === undefined) return [];
  const raw = await repo.getManifest(digest, signal ? { signal } : {});
  return signManifest(repo, subjectOf(raw), { key: resign.key, format, identity, ...defined({ signal }) });
}

/**
 * The copy engine's `beforeTag` hook that signs each image as it lands in
 * `repo`, before its tag is written; `onSigned` hears what was written.
 * A legacy signature names the repository it is written to.
 */
export function resignHook(
  repo: Repository,
  resign: Resign,
  signal: AbortSignal | undefined,
  onSigned?: (subject: string, written: SignatureWritten[]) => void,
): BeforeTag {
  const identity = repositoryNameOf(repo);
  return async (top) => {
    const written = await signManifest(repo, subjectOf(top), {
      key: resign.key,
      format: resign.format,
      identity,
      ...defined({ signal }),
    });
    onSigned?.(top.digest.toString(), written);
  };
}

/** What `signOnCopy` gives a copy: its `beforeTag` hook, and the signer of an image the destination had already. */
export interface CopySigner {
  /** Signs each image as it lands, before its tag is written (CopyOptions.beforeTag). */
  beforeTag: BeforeTag;
  /** An image the destination had already is not copied (no beforeTag): signed there unless the key signed it already. */
  signUpToDate(digest: Digest): Promise<SignatureWritten[]>;
}

/**
 * Signing on copy (`dray copy --sign-key`, as sync's `sign`): the hooks that
 * sign what a copy writes to `dst`, in `dst`'s repository; `onSigned` hears
 * what was written for which subject.
 */
export async function signOnCopy(
  dst: Location,
  resign: Resign,
  opts: { transport?: TransportOptions; signal?: AbortSignal; onSigned?: (subject: string, written: SignatureWritten[]) => void },
): Promise<CopySigner> {
  const repo = await new RepositoryFactory(() => opts.transport ?? {}).open(dst);
  return {
    beforeTag: resignHook(repo, resign, opts.signal, opts.onSigned),
    signUpToDate: async (digest) => {
      const written = await signUnlessSigned(repo, digest, resign, opts.signal);
      if (written.length > 0) opts.onSigned?.(digest.toString(), written);
      return written;
    },
  };
}
