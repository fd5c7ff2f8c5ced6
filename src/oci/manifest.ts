import { IntegrityError } from "../errors.js";
import { Digest } from "./digest.js";
import { DOCKER_LAYER_TYPES, MediaType, isIndexType, isManifestType, isSchema1Type } from "./mediatype.js";
import type { Platform } from "./platform.js";
import { isObject } from "../json.js";
import { defined } from "../defined.js";

/** A reference to content by digest and size, as manifests and indexes hold it. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

/** A manifest or index exactly as stored: the bytes are what the digest covers. */
export interface RawManifest {
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
}

export interface ImageManifest {
  kind: "manifest";
  mediaType: string;
  schemaVersion: 2;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  kind: "index";
  mediaType: string;
  schemaVersion: 2;
  manifests: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export type ParsedManifest = ImageManifest | ImageIndex;

/** Registries cap manifests at 4 MiB; anything larger is refused before parsing. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/**
 * Image configs are small JSON documents read whole; past this one is refused
 * rather than buffered (one limit for every transport and command).
 */
export const MAX_CONFIG_BYTES = 32 * 1024 * 1024;

function invalid(message: string, where?: string): IntegrityError {
  return new IntegrityError(where ? `${message} (${where})` : message, { code: "E_MANIFEST_INVALID", where });
}

type Json = Record<string, unknown>;

/** RFC 6838 type/subtype, the pattern the image-spec's JSON schema gives for mediaType and artifactType. */
const MEDIA_TYPE_RE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

/** True for a bare `type/subtype` as descriptors carry them (no parameters). */
export function isValidMediaType(v: unknown): v is string {
  return typeof v === "string" && MEDIA_TYPE_RE.test(v);
}

/** Short, escaped, one-line rendering of untrusted text for messages. */
function show(v: unknown): string {
  const text = typeof v === "string" ? v : String(JSON.stringify(v));
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);
}

/** An optional media-type field: absent, or a valid media type. */
function optionalMediaType(v: unknown, field: string, where?: string): string | undefined {
  if (v === undefined) return undefined;
  if (!isValidMediaType(v)) throw invalid(`${field} ${show(v)} is not a valid media type`, where);
  return v;
}

function stringMap(v: unknown, field: string, where?: string): Record<string, string> | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v) || Object.values(v).some((x) => typeof x !== "string")) throw invalid(`${field} must map strings to strings`, where);
  return v as Record<string, string>;
}

function parsePlatformField(v: unknown, where?: string): Platform | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v) || typeof v.os !== "string" || typeof v.architecture !== "string") {
    throw invalid("descriptor platform needs os and architecture strings", where);
  }
  const p: Platform = { os: v.os, architecture: v.architecture };
  if (typeof v.variant === "string") p.variant = v.variant;
  if (typeof v["os.version"] === "string") p["os.version"] = v["os.version"];
  if (Array.isArray(v["os.features"])) p["os.features"] = v["os.features"].filter((x): x is string => typeof x === "string");
  return p;
}

/** Validates one descriptor object; its digest must satisfy the strict grammar. */
export function parseDescriptor(v: unknown, where?: string): Descriptor {
  if (!isObject(v)) throw invalid("descriptor must be an object", where);
  if (v.mediaType === undefined) throw invalid("descriptor without mediaType", where);
  if (!isValidMediaType(v.mediaType)) throw invalid(`descriptor mediaType ${show(v.mediaType)} is not a valid media type`, where);
  if (typeof v.digest !== "string") throw invalid("descriptor without digest", where);
  // The strict grammar keeps `sha256:../../x` and friends out of URLs and blob paths.
  const digest = Digest.tryParse(v.digest);
  if (!digest) throw invalid(`descriptor digest ${show(v.digest)} is not a valid digest (sha256 or sha512, lowercase hex)`, where);
  if (typeof v.size !== "number" || !Number.isSafeInteger(v.size) || v.size < 0)
    throw invalid(`descriptor ${digest} has an invalid size ${show(v.size)}`, where);
  const d: Descriptor = { mediaType: v.mediaType, digest, size: v.size };
  if (v.urls !== undefined) {
    if (!Array.isArray(v.urls) || v.urls.some((u) => typeof u !== "string")) throw invalid("descriptor urls must be strings", where);
    d.urls = v.urls as string[];
  }
  const annotations = stringMap(v.annotations, "annotations", where);
  if (annotations) d.annotations = annotations;
  const platform = parsePlatformField(v.platform, where);
  if (platform) d.platform = platform;
  const artifactType = optionalMediaType(v.artifactType, "descriptor artifactType", where);
  if (artifactType !== undefined) d.artifactType = artifactType;
  return d;
}

/** Serialises a descriptor to the JSON shape of the spec (digest as a string, fields in the usual order). */
export function descriptorToJSON(d: Descriptor): Json {
  const out: Json = { mediaType: d.mediaType, digest: d.digest.toString(), size: d.size };
  if (d.urls) out.urls = d.urls;
  if (d.annotations) out.annotations = d.annotations;
  if (d.platform) out.platform = d.platform;
  if (d.artifactType) out.artifactType = d.artifactType;
  return out;
}

/**
 * Parses manifest or index bytes. `declaredType` is what the transport said
 * (Content-Type, a descriptor's mediaType); it must agree with the document's
 * own `mediaType` field and its shape. Docker schema 1 is refused by name.
 */
export function parseManifest(bytes: Uint8Array, declaredType?: string, where?: string): ParsedManifest {
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new IntegrityError(`manifest of ${bytes.length} bytes exceeds the ${MAX_MANIFEST_BYTES}-byte limit`, {
      code: "E_TOO_LARGE",
      where,
    });
  }
  const doc = parseJsonObject(bytes, "manifest", where);
  const declared = normalizeDeclaredType(declaredType);
  if (doc.mediaType !== undefined && typeof doc.mediaType !== "string") throw invalid("manifest mediaType must be a string", where);
  const inner = doc.mediaType;
  if (doc.schemaVersion === 1 || (inner !== undefined && isSchema1Type(inner)) || (declared !== undefined && isSchema1Type(declared))) {
    throw new IntegrityError(
      "Docker schema 1 manifests are not supported (deprecated since 2017; re-push the image with a current client)",
      { code: "E_UNSUPPORTED_MEDIA_TYPE", where },
    );
  }
  if (doc.schemaVersion !== 2) throw invalid("manifest schemaVersion must be 2", where);
  const hasLayers = "layers" in doc;
  const hasManifests = "manifests" in doc;
  if (hasLayers && hasManifests) throw invalid("document has both layers and manifests", where);
  if (inner !== undefined && declared !== undefined && inner !== declared) {
    throw invalid(`declared media type ${show(declared)} disagrees with the document's ${show(inner)}`, where);
  }
  // A document without mediaType is allowed by the OCI spec; then the declared type and the shape decide.
  const mediaType = inner ?? declared ?? (hasManifests ? MediaType.OciIndex : MediaType.OciManifest);
  if (isIndexType(mediaType)) {
    if (hasLayers || "config" in doc || !hasManifests) throw invalid(`${mediaType} must have manifests and no layers or config`, where);
    return parseIndexDoc(doc, mediaType, where);
  }
  if (isManifestType(mediaType)) {
    if (hasManifests || !("config" in doc)) throw invalid(`${mediaType} must have a config and no manifests`, where);
    return parseManifestDoc(doc, mediaType, where);
  }
  throw new IntegrityError(`unsupported manifest media type ${show(mediaType)}`, { code: "E_UNSUPPORTED_MEDIA_TYPE", where });
}

/** Strict UTF-8 (no replacement characters, a BOM is an error as in Go) and a JSON object. */
function parseJsonObject(bytes: Uint8Array, what: string, where?: string): Json {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes));
  } catch {
    throw invalid(`${what} is not valid JSON`, where);
  }
  if (!isObject(doc)) throw invalid(`${what} is not a JSON object`, where);
  return doc;
}

/**
 * What the transport declared, as a bare media type: parameters of a
 * Content-Type dropped, and generic types (application/json, a registry's
 * octet-stream) treated as saying nothing, so the document decides.
 */
function normalizeDeclaredType(declaredType: string | undefined): string | undefined {
  if (declaredType === undefined) return undefined;
  const bare = declaredType.split(";")[0]!.trim();
  return bare === "" || isGenericJson(bare.toLowerCase()) ? undefined : bare;
}

function isGenericJson(t: string): boolean {
  return t === "application/json" || t === "text/plain" || t === "application/octet-stream";
}

function optionalCommon(doc: Json, where?: string): Pick<ImageManifest, "subject" | "artifactType" | "annotations"> {
  const out: Pick<ImageManifest, "subject" | "artifactType" | "annotations"> = {};
  if (doc.subject !== undefined) out.subject = parseDescriptor(doc.subject, where);
  const artifactType = optionalMediaType(doc.artifactType, "artifactType", where);
  if (artifactType !== undefined) out.artifactType = artifactType;
  const annotations = stringMap(doc.annotations, "annotations", where);
  if (annotations) out.annotations = annotations;
  return out;
}

function parseManifestDoc(doc: Json, mediaType: string, where?: string): ImageManifest {
  const layers = doc.layers ?? [];
  if (!Array.isArray(layers)) throw invalid("layers must be an array", where);
  const parsed = layers.map((l) => parseDescriptor(l, where));
  const foreign = mediaType === MediaType.DockerManifest ? parsed.find((l) => !DOCKER_LAYER_TYPES.includes(l.mediaType)) : undefined;
  if (foreign)
    throw new IntegrityError(
      `a Docker schema 2 manifest cannot carry a layer of type ${show(foreign.mediaType)} (${foreign.digest}); only Docker's tar, tar.gzip and foreign layers (containers/image refuses it too)`,
      { code: "E_UNSUPPORTED_MEDIA_TYPE", where },
    );
  return {
    kind: "manifest",
    mediaType,
    schemaVersion: 2,
    config: parseDescriptor(doc.config, where),
    layers: parsed,
    ...optionalCommon(doc, where),
  };
}

function parseIndexDoc(doc: Json, mediaType: string, where?: string): ImageIndex {
  if (!Array.isArray(doc.manifests)) throw invalid("manifests must be an array", where);
  return {
    kind: "index",
    mediaType,
    schemaVersion: 2,
    manifests: doc.manifests.map((m) => parseDescriptor(m, where)),
    ...optionalCommon(doc, where),
  };
}

/** Parses a RawManifest, checking that its bytes match its digest. */
export function parseRawManifest(raw: RawManifest, where?: string): ParsedManifest {
  const actual = Digest.of(raw.bytes, raw.digest.algorithm);
  if (!actual.equals(raw.digest)) {
    throw new IntegrityError(`manifest digest mismatch: expected ${raw.digest}, got ${actual}`, { code: "E_DIGEST_MISMATCH", where });
  }
  return parseManifest(raw.bytes, raw.mediaType, where);
}

/** Builds a RawManifest from a document dray generates (new index for a platform subset, docker-archive manifests). */
export function rawManifestFromDocument(doc: Json, mediaType: string): RawManifest {
  const bytes = Buffer.from(JSON.stringify(doc, null, 2));
  return { bytes, mediaType, digest: Digest.of(bytes) };
}

/** The descriptor under which a raw manifest is referenced from an index. */
export function descriptorOf(raw: RawManifest, extra: Partial<Descriptor> = {}): Descriptor {
  return { ...extra, mediaType: raw.mediaType, digest: raw.digest, size: raw.bytes.length };
}

/** The image config fields dray reads (inspect, docker-archive, platform of a single manifest). */
export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  created?: string;
  author?: string;
  docker_version?: string;
  config?: {
    Env?: string[];
    Labels?: Record<string, string> | null;
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    User?: string;
    [key: string]: unknown;
  };
  rootfs?: { type: string; diff_ids: string[] };
  history?: Array<Record<string, unknown>>;
  [key: string]: unknown;
}

/** Parses an image config blob; only the shape, not every field, is checked. */
export function parseImageConfig(bytes: Uint8Array, where?: string): ImageConfig {
  const doc = parseJsonObject(bytes, "image config", where);
  const rootfs = doc.rootfs;
  if (rootfs !== undefined) {
    if (!isObject(rootfs) || !Array.isArray(rootfs.diff_ids) || rootfs.diff_ids.some((d) => typeof d !== "string" || !Digest.isValid(d))) {
      throw invalid("image config rootfs.diff_ids must be valid digests", where);
    }
  }
  return doc as ImageConfig;
}

/** The platform an image config names, or undefined when it lacks os or architecture. */
export function configPlatform(config: ImageConfig): { os: string; architecture: string; variant?: string } | undefined {
  if (!config.os || !config.architecture) return undefined;
  return { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
}

/**
 * The Docker schema 2 manifest of an image stored with uncompressed layers (a
 * docker-archive). The copy engine and the docker-archive reader both build it
 * here, so the digest a copy reports is the one `dray digest` reads back.
 */
export function dockerArchiveManifest(config: Descriptor, layers: readonly Descriptor[]): RawManifest {
  const doc = {
    schemaVersion: 2,
    mediaType: MediaType.DockerManifest,
    config: descriptorToJSON({ mediaType: MediaType.DockerConfig, digest: config.digest, size: config.size }),
    // A foreign layer keeps its URLs (docker-archive LayerSources), as docker load's push and ggcr's tarball read it.
    layers: layers.map((l) => descriptorToJSON({ mediaType: l.mediaType, digest: l.digest, size: l.size, ...defined({ urls: l.urls }) })),
  };
  return rawManifestFromDocument(doc, MediaType.DockerManifest);
}
