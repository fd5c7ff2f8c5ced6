/**
 * Writing a referrer: a manifest whose `subject` is an image, and its blobs,
 * stored beside the image (registry, `oci:` layout, `oci-archive:`) where
 * `dray referrers`, `copy --referrers` and sync find it. `pushReferrer` is
 * the one way dray writes one (`dray attach` builds an OCI 1.1 artifact for
 * it; `dray sign` a signature). Blobs the store has are skipped, each one
 * written is checked against its digest as it streams, and a failure leaves
 * nothing named; where the store does not index subjects itself
 * (distribution 2.8, layouts, archives) the tag schema's `sha256-<hex>`
 * index gains the new manifest.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { basename } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { NotFoundError, UsageError, whyUnreadable } from "../errors.js";
import { Digest, Digester, VerifyingStream } from "../oci/digest.js";
import {
  descriptorToJSON,
  isValidMediaType,
  parseRawManifest,
  rawManifestFromDocument,
  type Descriptor,
  type RawManifest,
} from "../oci/manifest.js";
import { MediaType } from "../oci/mediatype.js";
import { referrersTag } from "../oci/referrer-tags.js";
import { formatLocation, parseLocation, type Location } from "../ref/location.js";
import { openSource } from "../transport/index.js";
import { RepositoryFactory } from "../transport/repository.js";
import type { ImageDestination, Repository, TransportOptions } from "../transport/types.js";
import { addToReferrersIndex } from "./copy.js";
import { INDEX_CONFIRM } from "./read-back.js";
import { defined } from "../defined.js";

/**
 * A blob of a referrer: its descriptor, and its bytes in memory or in a file
 * (read when it is written). Neither: the store must hold it already (a
 * cosign `.sig` manifest that keeps the layers of the one it replaces).
 */
export interface ReferrerBlob {
  descriptor: Descriptor;
  bytes?: Buffer;
  path?: string;
}

/** A referrer to write: its manifest (with `subject`, unless it goes under `tag`) and every blob the manifest names. */
export interface ReferrerContent {
  manifest: RawManifest;
  blobs: readonly ReferrerBlob[];
}

export interface PushReferrerOptions {
  /** How to reach the location (credentials, TLS). */
  transport?: TransportOptions;
  signal?: AbortSignal;
  /**
   * Also (or, without a `subject`, only) name the manifest by this tag: a
   * cosign `sha256-<hex>.sig` signature is found by its tag, not a subject.
   */
  tag?: string;
}

export interface PushReferrerResult {
  /** The repository written to (`docker://host/repo`, `oci:DIR`, `oci-archive:FILE`). */
  location: string;
  digest: string;
  mediaType: string;
  size: number;
  artifactType?: string;
  subject?: string;
  /**
   * How readers find it: `referrers-api` the store indexes its subject
   * (OCI distribution 1.1), `tag-schema` the `sha256-<hex>` index (named in
   * `index`), `tag` only the tag given.
   */
  indexedBy: "referrers-api" | "tag-schema" | "tag";
  tag?: string;
  /** The tag schema's index after the write. */
  index?: { tag: string; digest: string };
  /** Blobs written and those the store had already; bytes written. */
  blobs: { copied: number; skipped: number };
  bytes: number;
}

/** The type a referrers list gives a manifest: its artifactType, else its config's media type (OCI distribution spec). */
function artifactTypeOf(parsed: ReturnType<typeof parseRawManifest>): string | undefined {
  return parsed.artifactType ?? (parsed.kind === "manifest" ? parsed.config.mediaType : undefined);
}

/** The blobs (those missing), then the manifest, committed; everything written taken back on failure. */
async function writeContent(
  dst: ImageDestination,
  content: ReferrerContent,
  where: string,
  signal: AbortSignal | undefined,
): Promise<Pick<PushReferrerResult, "blobs" | "bytes">> {
  const out = { blobs: { copied: 0, skipped: 0 }, bytes: 0 };
  const s = signal ? { signal } : {};
  try {
    for (const b of content.blobs) {
      const d = b.descriptor;
      if (await dst.hasBlob(d, s)) {
        out.blobs.skipped++;
        continue;
      }
      if (!b.bytes && b.path === undefined)
        throw new NotFoundError(`${where}: blob ${d.digest} is not there, and no bytes were given for it`, { where });
      const data = b.bytes ? Readable.from([b.bytes]) : createReadStream(b.path!, s);
      // Checked as it streams: a file changed since it was hashed is refused, not stored under a wrong name.
      const check = new VerifyingStream({ digest: d.digest, size: d.size, where: b.path ?? where });
      data.on("error", (err: Error) => check.destroy(err));
      await dst.putBlob(d, data.pipe(check), s);
      out.blobs.copied++;
      out.bytes += d.size;
    }
    await dst.putManifest(content.manifest, { isTop: true, ...s });
    await dst.commit();
  } catch (err) {
    await dst.abort().catch(() => undefined);
    throw err;
  }
  return out;
}

/**
 * Writes `content` into the repository of `loc` (a tag or digest in `loc` is
 * ignored), an archive staged and packed back: see writeReferrer.
 */
export async function pushReferrer(loc: Location, content: ReferrerContent, opts: PushReferrerOptions = {}): Promise<PushReferrerResult> {
  const staged = await new RepositoryFactory(() => opts.transport ?? {}).openStaged(loc);
  try {
    const result = await writeReferrer(staged.repo, content, opts);
    await staged.publish();
    return result;
  } finally {
    await staged.close();
  }
}

/**
 * Writes `content` into `repo`, already open (sync's destination, a staged
 * archive): its blobs, the manifest under its digest (and `opts.tag`), and,
 * where the store does not index the manifest's `subject` itself, the
 * subject's tag-schema index with the new manifest added to what it listed.
 * The subject must be stored there already (E_NOT_FOUND before anything is
 * written). Returns the manifest's digest and how it will be found.
 */
export async function writeReferrer(
  repo: Repository,
  content: ReferrerContent,
  opts: Omit<PushReferrerOptions, "transport"> = {},
): Promise<PushReferrerResult> {
  const signal = opts.signal ? { signal: opts.signal } : {};
  const m = content.manifest;
  const parsed = parseRawManifest(m, "referrer manifest");
  const subject = parsed.subject;
  if (!subject && opts.tag === undefined) throw new UsageError("a referrer needs a subject, or a tag to be found by");
  if (subject && !(await repo.hasManifest(subject.digest, signal)))
    throw new NotFoundError(`${repo.display}: the subject ${subject.digest} is not there`, { where: repo.display });
  await repo.prepare();
  const destination = await repo.openDestination(opts.tag === undefined ? { digest: m.digest } : { tag: opts.tag, digest: m.digest });
  const written = await writeContent(destination, content, repo.display, opts.signal);
  const artifactType = artifactTypeOf(parsed);
  const result: PushReferrerResult = {
    location: repo.display,
    digest: m.digest.toString(),
    mediaType: m.mediaType,
    size: m.bytes.length,
    ...(artifactType ? { artifactType } : {}),
    ...(subject ? { subject: subject.digest.toString() } : {}),
    indexedBy: "tag",
    ...defined({ tag: opts.tag }),
    ...written,
  };
  if (subject) {
    // Asked after the PUT: a registry that answered it with OCI-Subject indexed the subject itself.
    if (await repo.hasReferrersApi(subject.digest, signal)) result.indexedBy = "referrers-api";
    else {
      // As the referrers API lists it: with the manifest's artifact type and annotations.
      const listed: Descriptor = {
        mediaType: m.mediaType,
        digest: m.digest,
        size: m.bytes.length,
        ...(artifactType ? { artifactType } : {}),
        ...defined({ annotations: parsed.annotations }),
      };
      const index = await addToReferrersIndex(
        repo,
        subject.digest,
        await repo.resolve(referrersTag(subject.digest), signal),
        [listed],
        // Read back after the PUT: another attach or sign of this image at the same time may have replaced it.
        { ...signal, confirm: INDEX_CONFIRM },
      );
      result.indexedBy = "tag-schema";
      if (index) result.index = { tag: referrersTag(subject.digest), digest: index.digest.toString() };
    }
  }
  return result;
}

/** One file to attach: its path and the media type of its layer (default application/octet-stream). */
export interface AttachFile {
  path: string;
  mediaType?: string;
}

export interface AttachOptions extends Omit<PushReferrerOptions, "tag"> {
  /** The artifact's type (`application/spdx+json`, …). */
  artifactType: string;
  /** Each a layer titled with its base name. */
  files: readonly AttachFile[];
  /** The manifest's annotations. */
  annotations?: Readonly<Record<string, string>>;
  /** `org.opencontainers.image.created` unless an annotation sets it (default now; the CLI passes SOURCE_DATE_EPOCH). */
  created?: string;
}

export interface AttachResult extends PushReferrerResult {
  /** The image attached to, as LOC named it. */
  image: string;
  layers: { path: string; title: string; mediaType: string; digest: string; size: number }[];
}

function notMediaType(what: string, text: string): UsageError {
  return new UsageError(`${what}: "${text}" is not a media type (type/subtype, such as application/spdx+json)`);
}

/** `FILE[:MEDIATYPE]`: the whole text when it names a file, else split at its last colon. */
export function parseAttachFile(text: string, exists: (path: string) => boolean): AttachFile {
  const i = text.lastIndexOf(":");
  if (i <= 0 || exists(text)) return { path: text };
  const mediaType = text.slice(i + 1);
  if (!isValidMediaType(mediaType)) throw notMediaType(JSON.stringify(text), text.slice(i + 1));
  return { path: text.slice(0, i), mediaType };
}

const TITLE = "org.opencontainers.image.title";
const CREATED = "org.opencontainers.image.created";
/** The empty JSON blob `{}`: the config of an artifact that has none (OCI image-spec, "Guidelines for Artifact Usage"). */
const EMPTY = Buffer.from("{}");

/** Each file checked and hashed before anything is written: a regular file, readable, with a valid media type. */
async function readFiles(files: readonly AttachFile[], signal?: AbortSignal): Promise<(ReferrerBlob & { title: string; path: string })[]> {
  const titles = new Set<string>();
  const out: (ReferrerBlob & { title: string; path: string })[] = [];
  for (const f of files) {
    const mediaType = f.mediaType ?? "application/octet-stream";
    if (!isValidMediaType(mediaType)) throw notMediaType(f.path, f.mediaType ?? "");
    const st = await stat(f.path).catch((err: unknown) => {
      throw new UsageError(`${f.path} ${whyUnreadable(err)}`, { where: f.path });
    });
    if (!st.isFile()) throw new UsageError(`${f.path} is ${st.isDirectory() ? "a folder" : "not a regular file"}; attach files`);
    const title = basename(f.path);
    if (titles.has(title)) throw new UsageError(`two files are named ${JSON.stringify(title)}; a layer's title is its file's name`);
    titles.add(title);
    const hash = new Digester("sha256");
    await pipeline(createReadStream(f.path, signal ? { signal } : {}), async function* (chunks: AsyncIterable<Buffer>) {
      for await (const c of chunks) hash.update(c);
      yield* [];
    }).catch((err: unknown) => {
      throw new UsageError(`${f.path} ${whyUnreadable(err)}`, { where: f.path });
    });
    out.push({ path: f.path, title, descriptor: { mediaType, digest: hash.digest(), size: hash.bytes, annotations: { [TITLE]: title } } });
  }
  return out;
}

/**
 * `dray attach LOC --artifact-type TYPE FILE…`: an OCI 1.1 artifact (an
 * image manifest with `artifactType`, the empty config, one layer a file
 * titled with its name) whose subject is the image LOC names, written beside
 * it by pushReferrer. Every input is checked, and the image found, before
 * anything is written.
 */
export async function attach(loc: Location | string, opts: AttachOptions): Promise<AttachResult> {
  const where = typeof loc === "string" ? parseLocation(loc) : loc;
  if (!isValidMediaType(opts.artifactType)) throw notMediaType("--artifact-type", (opts as { artifactType: string }).artifactType);
  if (where.transport === "docker-archive")
    throw new UsageError(`${formatLocation(where)}: a docker-archive holds no referrers; attach to a registry, oci: or oci-archive:`);
  if (where.transport === "oci-archive" && where.path === "-")
    throw new UsageError("attach needs an oci-archive file, not standard input or output (the archive is rewritten)");
  if (opts.files.length === 0 && Object.keys(opts.annotations ?? {}).length === 0)
    throw new UsageError("attach: give at least one FILE (or --annotation for an artifact of annotations only)");
  const files = await readFiles(opts.files, opts.signal);
  const source = await openSource(where, opts.transport ?? {});
  let image: RawManifest;
  try {
    image = await source.getManifest(undefined, opts.signal ? { signal: opts.signal } : {});
  } finally {
    await source.close();
  }
  const config: ReferrerBlob = {
    descriptor: { mediaType: MediaType.OciEmpty, digest: Digest.of(EMPTY), size: EMPTY.length },
    bytes: EMPTY,
  };
  // No file: the spec's empty descriptor stands as the one layer.
  const layers = files.length > 0 ? files : [config];
  const annotations = { [CREATED]: opts.created ?? new Date().toISOString().replace(/\.\d{3}Z$/, "Z"), ...opts.annotations };
  const manifest = rawManifestFromDocument(
    {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      artifactType: opts.artifactType,
      config: descriptorToJSON(config.descriptor),
      layers: layers.map((l) => descriptorToJSON(l.descriptor)),
      subject: { mediaType: image.mediaType, digest: image.digest.toString(), size: image.bytes.length },
      annotations,
    },
    MediaType.OciManifest,
  );
  const result = await pushReferrer(
    where,
    { manifest, blobs: [config, ...files] },
    {
      ...defined({ transport: opts.transport, signal: opts.signal }),
    },
  );
  return {
    ...result,
    image: formatLocation(where),
    layers: files.map((f) => ({
      path: f.path,
      title: f.title,
      mediaType: f.descriptor.mediaType,
      digest: f.descriptor.digest.toString(),
      size: f.descriptor.size,
    })),
  };
}
