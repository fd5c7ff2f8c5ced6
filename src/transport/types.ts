import type { Readable } from "node:stream";
import type { Digest } from "../oci/digest.js";
import type { Descriptor, RawManifest } from "../oci/manifest.js";
import type { LayerCompression } from "../oci/mediatype.js";
import type { Credentials } from "../auth/credentials.js";
import type { Location } from "../ref/location.js";
import type { ImageReference } from "../ref/reference.js";
import type { MirrorConfig } from "./mirrors.js";

/**
 * The transport layer: one interface, one implementation per location form.
 * Contracts are written as rules; the copy engine relies on them and never asks
 * which class it holds.
 */

export type { Credentials };

/** Everything a transport may need from the command line; each transport reads what applies to it. */
/** The flag that named each TLS file of one side. */
export interface TlsFlagNames {
  caFile?: string;
  certDir?: string;
  clientCert?: string;
  clientKey?: string;
}

export interface TransportOptions {
  /** Explicit credentials for this location (`--creds`, `--src-creds`, `--dest-creds`). */
  creds?: Credentials;
  /** How messages name `creds` when the registry refuses them (default `--creds`): `--src-creds`, `dray login (user "alice")`. */
  credsSource?: string;
  /** `--trust-realm HOST` (repeatable): token realms on an unrelated site that may receive the credential. */
  trustRealms?: string[];
  /** `--authfile`: a containers auth.json tried before the default files. */
  authFile?: string;
  /** Plain HTTP or unverified TLS for non-loopback registries. */
  insecure?: boolean;
  /** Extra CA bundle (PEM) trusted beside the system CAs. */
  caFile?: string;
  /** A containers-certs.d folder for this registry (`*.crt`, `NAME.cert` + `NAME.key`); without it the host's folder under the certs.d roots is used when one exists. */
  certDir?: string;
  /** A client certificate (PEM) and its key, presented to registries that ask for one (mTLS). */
  clientCert?: string;
  clientKey?: string;
  /** The flag each TLS file came from (`--src-ca-file`, `--dest-cert-dir`), for messages; default the both-sides names. */
  tlsFlags?: TlsFlagNames;
  /** A bearer token obtained elsewhere, sent as is (`--registry-token`): no credential lookup, no token service. */
  registryToken?: string;
  /** Anonymous even when a stored credential exists (`--no-creds`). */
  noCreds?: boolean;
  /** Mirrors for reads (a sync file's `mirrors:`, or a library caller's); destinations never use them. */
  mirrors?: MirrorConfig;
  /** `--registries-conf FILE`: a containers-registries.conf(5) v2 file whose mirrors serve reads (read when a registry is first read). */
  registriesConf?: string;
  /** Repositories never read from through a mirror: the run's destination. */
  mirrorExclude?: ImageReference[];
  /** Attempts after the first for retryable failures (default 3). */
  retries?: number;
  /** Receives one line per HTTP request for `--debug`; lines never contain credentials. */
  debug?: (line: string) => void;
  /** `--force`: an archive destination may replace an existing file that is not an archive of its kind (else refused, exit 2). */
  replaceFile?: boolean;
  /** Receives user-facing notices (e.g. a token realm on another host); stderr in the CLI. */
  notice?: (message: string) => void;
  /** Bounds on the requests to this registry's host, shared by every client of the host in the process (sync's per-registry throttles). */
  throttle?: { requestsPerSecond?: number; concurrency?: number };
  /** Where temporary files go when a transport needs them (default: beside the destination, else os.tmpdir()). */
  tmpDir?: string;
  /** Standard input/output for `-` archives (defaults to process.stdin / process.stdout). */
  stdin?: Readable;
  stdout?: NodeJS.WritableStream;
}

/**
 * The run's abort signal. Every transport method that may wait on a peer
 * takes it: aborting abandons the request (headers, body, token, retry
 * pause), so one Ctrl-C or SIGTERM ends the run whatever the server does.
 */
export interface SignalOption {
  signal?: AbortSignal;
}

export type BlobReadOptions = SignalOption;

export interface ImageSource {
  readonly location: Location;
  /**
   * True when the transport makes the manifest up (a pre-25 `docker save`
   * archive has none): its digest identifies nothing beyond this source, so
   * the engine may write it in the destination's preferred format.
   */
  readonly generatedManifest?: boolean;
  /**
   * The manifest the location names (its tag or digest) when `digest` is
   * omitted, else the manifest with that digest (a child of an index).
   * Bytes MUST be exactly as stored and MUST match the returned digest; when the
   * location names a digest, a different one is an E_DIGEST_MISMATCH.
   * A missing reference is E_NOT_FOUND. Aborting `opts.signal` abandons the
   * request (a stalled registry must not hold up an interrupted copy).
   */
  getManifest(digest?: Digest, opts?: BlobReadOptions): Promise<RawManifest>;
  /**
   * A stream of the blob's bytes. The caller verifies size and digest as it
   * reads (VerifyingStream); the source MAY verify too. Aborting `signal`
   * destroys the stream and releases its connection or file handle.
   */
  getBlob(desc: Descriptor, opts?: BlobReadOptions): Promise<Readable>;
  /**
   * Where the blob really lives, when that is not `location` (a composed
   * source serves blobs of several images): the repository a registry
   * destination mounts it from.
   */
  blobOrigin?(desc: Descriptor): Location | undefined;
  /** Releases connections, file handles and temporary files. Safe to call twice. */
  close(): Promise<void>;
}

/** What a destination can hold; the copy engine adapts to these answers. */
export interface DestinationCapabilities {
  /** Layers MUST arrive uncompressed (docker-archive): the engine decompresses and checks them against the config's diff_ids. */
  needsUncompressedLayers: boolean;
  /** The destination can store an index; false means one platform only (docker-archive). */
  acceptsIndex: boolean;
  /** Manifest bytes are stored as given, so digests are preserved (false for docker-archive, which writes its own manifest.json). */
  preservesDigests: boolean;
  /** mountBlob may succeed (registry destinations). */
  supportsMount: boolean;
  /** putBlob may be called concurrently. When false the engine still may, and the destination queues. */
  concurrentPutBlob: boolean;
  /** Layer compressions the destination can hold (absent: any); the engine decompresses others (zstd into a docker-archive). */
  layerCompressions?: readonly LayerCompression[];
  /** The destination is an OCI image layout (oci:, oci-archive:), which OCI-only readers (umoci) open. */
  ociLayout?: boolean;
  /**
   * A layer with `urls` (a foreign or non-distributable layer: Windows base layers) is kept
   * foreign, its blob not copied: its manifest still names the URLs (containers/image's
   * AcceptsForeignLayerURLs; true for registries and OCI layouts, false for docker-archive).
   */
  keepsForeignLayers?: boolean;
}

export interface ImageDestination {
  readonly location: Location;
  readonly capabilities: DestinationCapabilities;
  /**
   * The digest the destination location's tag points to now, or undefined
   * when it points nowhere yet. Lets the engine finish at once when the same
   * manifest is already there.
   */
  currentDigest(opts?: SignalOption): Promise<Digest | undefined>;
  /**
   * The digest `tag` names in the destination's repository now (undefined
   * when it names none, or when the destination cannot tell cheaply). Asked
   * by `--all-tags` before each tag's PUT: registries with immutable tags
   * (ECR, Harbor, Artifactory) refuse even a PUT that changes nothing.
   */
  tagDigest?(tag: string, opts?: SignalOption): Promise<Digest | undefined>;
  /** True when the destination already holds the blob (one HEAD, one stat). */
  hasBlob(desc: Descriptor, opts?: SignalOption): Promise<boolean>;
  /**
   * Called once per image, after planning and before its first blob moves, with the blobs the copy will
   * move: a destination that can tell it will run out of room (a whole-mirror archive) refuses here
   * (IoError, exit 1), so no blob moves for an image that cannot fit.
   */
  reserveSpace?(blobs: readonly { digest: string; size: number }[], opts?: SignalOption): Promise<void>;
  /**
   * Makes a blob appear without moving bytes (registry cross-repository
   * mount). Returns false when the registry did not mount (the caller then
   * uploads). Only called when capabilities.supportsMount is true.
   */
  mountBlob?(desc: Descriptor, from: Location, opts?: SignalOption): Promise<boolean>;
  /**
   * Stores a blob from `data`. The blob MUST NOT become visible unless `data`
   * ends without error (write to a temporary name, rename on success); an error
   * from `data` (the caller's digest check) aborts the write. Every putBlob of a
   * manifest's blobs MUST finish before putManifest of that manifest.
   * When capabilities.needsUncompressedLayers is true, layers arrive already
   * decompressed, described by their diff_id with `size: -1` (not known until
   * the stream ends); the manifest later given to putManifest has real sizes.
   */
  putBlob(desc: Descriptor, data: Readable, opts?: BlobReadOptions): Promise<void>;
  /**
   * Stores a manifest or index under its digest, and under `tag` when given.
   * A transport that names images by the location's own reference (layout
   * ref.name, docker-archive RepoTags) uses the location when `tag` is omitted
   * and `isTop` is true. Children (index entries) are put before their index.
   * Aborting `opts.signal` abandons the write (for a registry, the tag PUT).
   */
  putManifest(m: RawManifest, opts?: { tag?: string; isTop?: boolean; signal?: AbortSignal }): Promise<void>;
  /**
   * Makes everything visible at once (index.json swap, archive rename, or
   * nothing for a registry, where the tag PUT is the commit). MUST be called to
   * persist; until then a reader sees the old state.
   */
  commit(): Promise<void>;
  /** Discards everything written since opening: temporary files, unfinished uploads. */
  abort(): Promise<void>;
}

export interface DeleteResult {
  /** The digest whose reference was removed. */
  digest: Digest;
  /** Other tags that pointed at the same manifest and are gone with it (registry deletes are by digest). */
  alsoRemovedTags: string[];
  /** Blobs removed because nothing referenced them any more (layouts and archives). */
  blobsRemoved: number;
  /** Only the name went: other names in the layout or archive still hold the image (never for a registry). */
  imageKept?: boolean;
}

/** The third, smaller face of a transport: what tag, delete and ls need. */
export interface ReferenceStore {
  readonly location: Location;
  /** Tags (registry), ref.name annotations (layout, oci-archive) or RepoTags (docker-archive). */
  listTags(opts?: SignalOption): Promise<string[]>;
  /** Adds `tag` to the image the location names, moving no blob. */
  addTag(tag: string, opts?: SignalOption): Promise<void>;
  /** Removes the reference the location names (unreferenced blobs are removed where the transport owns them). */
  deleteReference(opts?: SignalOption): Promise<DeleteResult>;
  close(): Promise<void>;
}

/** What a tag names now. */
export interface TagHead {
  digest: Digest;
  mediaType: string;
  /** The manifest's size in bytes (a registry's Content-Length). */
  size: number;
}

/** A tag, a digest, or both (the digest wins for reading, the tag names what is written). */
export interface RepoRef {
  tag?: string;
  digest?: Digest;
}

/**
 * How a referrer was found: `api` the referrers API (OCI distribution 1.1),
 * `tag-schema` the `sha256-<hex>` index of the spec's tag schema (registries
 * without the API, OCI layouts), `index-json` an entry of a layout's
 * index.json whose manifest carries the `subject` (ORAS and regclient store
 * referrers so, untagged), `cosign-tag` a `sha256-<hex>.sig|.att|.sbom` tag
 * that cosign writes (plain manifests without `subject`: the tag names it).
 */
export type ReferrerFoundBy = "api" | "tag-schema" | "index-json" | "cosign-tag";

/** One manifest that refers to a subject. */
export interface Referrer {
  /**
   * The referrer's manifest. From the API or the index: as listed there
   * (artifactType and annotations when the lister wrote them); from a cosign
   * tag: digest, media type and size only (read the manifest for more).
   */
  descriptor: Descriptor;
  foundBy: ReferrerFoundBy;
  /** The tag it was found under: the cosign tag, or the tag schema's index tag. */
  tag?: string;
}

export interface ReferrersOptions extends SignalOption {
  /**
   * The repository's tags when the caller has them (one listing serves many
   * subjects; sync has them anyway); listed here otherwise. They say which
   * referrer tags exist, so no tag is asked for in vain.
   */
  tags?: ReadonlySet<string>;
  /**
   * Asked with what the subject's tag-schema index tag names before the index
   * is read; true leaves it unread (a mirror whose destination holds the same
   * index already has every referrer it lists): `index.manifest` is then
   * absent and the index contributes no referrers.
   */
  skipIndex?: (head: TagHead) => boolean | Promise<boolean>;
  /**
   * Given: a failing way of finding (the API, the index, one cosign tag) is
   * reported here and contributes nothing, and the others still answer.
   * Absent: the first failure rejects the call.
   */
  onError?: (err: unknown, foundBy: ReferrerFoundBy, tag?: string) => void;
}

export interface ReferrerList {
  /** Every referrer once: the API's, then the index's not listed by the API, then a layout's index.json entries not listed before, then each cosign tag (by tag name). */
  referrers: Referrer[];
  /** The subject's tag-schema index when the repository has one: what its tag names, and its bytes unless skipped (a mirror keeps them). */
  index?: { head: TagHead; manifest?: RawManifest };
}

/**
 * The fourth face, optional (registries and OCI layouts have it, archives
 * not): one repository on one side of a mirror, as sync and referrer copying
 * see it. It answers the few questions that make a re-run cheap (the tags,
 * what one tag names now, whether a manifest is there) and finds referrers
 * one way for every caller (the copy walk, the tree, signature checks).
 * Sources and destinations are opened through it, so one registry client
 * (and its token cache) serves every image of the repository.
 */
export interface Repository {
  /** The repository itself, without tag or digest. */
  readonly location: Location;
  /** `docker://host/repo` or `oci:DIR`, for messages. */
  readonly display: string;
  /** Readies a destination before images are written into it in parallel (creates a layout's folder once). */
  prepare(): Promise<void>;
  /**
   * After the run: takes back what prepare() created when nothing was stored
   * in it (a failed sync into a new layout folder leaves no empty layout). A
   * store that existed before prepare() is left as it is.
   */
  undoPrepare?(): Promise<void>;
  /** Tags (ref.names in a layout). A repository or layout that does not exist is E_NOT_FOUND. */
  listTags(opts?: SignalOption): Promise<string[]>;
  /** What `tag` names now, or undefined when it names nothing (one HEAD; one index.json read). */
  resolve(tag: string, opts?: SignalOption): Promise<TagHead | undefined>;
  /** True when the manifest `digest` is stored (one HEAD; a blob stat in a layout). */
  hasManifest(digest: Digest, opts?: SignalOption): Promise<boolean>;
  /** A manifest by tag or digest, digest-checked. */
  getManifest(ref: string | Digest, opts?: SignalOption): Promise<RawManifest>;
  /** The location of `ref` in this repository. */
  at(ref: RepoRef): Location;
  openSource(ref: RepoRef): Promise<ImageSource>;
  openDestination(ref: RepoRef): Promise<ImageDestination>;
  /**
   * The manifests that refer to `subject`, each with how it was found: the
   * referrers API where the store has one (asked once per repository whether
   * it does), the tag schema's `sha256-<hex>` index, and cosign's tags.
   * One level: a referrer's own referrers are another call.
   */
  referrers(subject: Digest, opts?: ReferrersOptions): Promise<ReferrerList>;
  /**
   * True when the store indexes a pushed manifest's `subject` itself (no
   * fallback tag to maintain), asked about a real `subject`; may turn true
   * once a manifest PUT was answered with `OCI-Subject`.
   */
  hasReferrersApi(subject: Digest, opts?: SignalOption): Promise<boolean>;
  /** Stores `index` under the tag schema's fallback tag of `subject`, committed at once. */
  putReferrersIndex(subject: Digest, index: RawManifest, opts?: SignalOption): Promise<void>;
  /**
   * Removes `tag` alone, never another tag's image (sync's `--prune`), and
   * returns the digest it named; undefined when it named nothing already. A
   * registry moves the tag to a placeholder manifest of its own and deletes
   * that (its deletes are by digest and take every tag on the manifest); a
   * layout drops the ref.name and the blobs nothing references any more.
   */
  removeTag(tag: string, opts?: SignalOption): Promise<Digest | undefined>;
}
