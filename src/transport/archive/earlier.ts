// The archive already at a destination path. A copy into an archive adds its
// image to the ones there (repeated copies and sync build one multi-image
// archive): the earlier images' files are carried over by byte range into the
// new tar, except what only images whose every tag was taken now referenced.
import { stat } from "node:fs/promises";
import { isDrayError, UsageError } from "../../errors.js";
import { Digest } from "../../oci/digest.js";
import type { TransportOptions } from "../types.js";
import { checkLinkMayBeFollowed } from "../protected-links.js";
import { reachableBlobs } from "../layout/gc.js";
import { removeEntries, type LayoutIndex } from "../layout/index-json.js";
import { CONTAINERD_NAME, readArchiveIndex } from "./docker-oci.js";
import { formatRepoTag, parseRepoTag, type ManifestItem } from "./docker-format.js";
import { openDockerArchive, type OpenedDockerArchive } from "./docker-source.js";
import { ArchiveBlobs, openOciArchive } from "./oci-archive.js";
import type { BlobReader } from "../layout/resolve.js";
import { copyEntry } from "./rewrite.js";
import type { TarIndex } from "./tar-index.js";
import type { TarWriter } from "./tar-writer.js";

/** Files an archive writer always writes itself. */
const METADATA = new Set(["manifest.json", "repositories", "index.json", "oci-layout"]);

export interface EarlierArchive {
  /** manifest.json entries that stay (tags taken now removed; images left with none dropped). */
  items: ManifestItem[];
  /** index.json entries that stay, when the archive had one. */
  index: LayoutIndex | undefined;
  /** Copies every file that stays into `w`, except names in `written`. */
  carry(w: TarWriter, written: ReadonlySet<string>): Promise<void>;
  close(): Promise<void>;
}

/** Whether a file is at `path` (an archive to add to), for a path that is not standard output. */
async function exists(path: string): Promise<boolean> {
  if (path === "-") return false;
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** An empty file (what `mktemp` leaves) holds nothing to lose: it is written as a new archive, as skopeo's docker-archive accepts it. */
async function isEmptyFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).size === 0;
  } catch {
    return false;
  }
}

const KIND_NAME = { "oci-archive": "an OCI archive", "docker-archive": "a docker archive" } as const;

/**
 * At commit, a file that is not a readable archive of the kind is replaced
 * when asked (`--force`, silent as `cp -f`), and refused otherwise (it became
 * one after the destination opened). One that is of the kind but whose
 * index.json or manifest.json is damaged is refused even then (exit 5, as for
 * an oci: layout): replacing it would silently drop the images it holds.
 */
function replacing(path: string, kind: keyof typeof KIND_NAME, err: unknown, opts: TransportOptions): undefined {
  if (isDrayError(err, "E_MANIFEST_INVALID") || opts.replaceFile !== true) throw notAnArchive(path, kind, err);
  return undefined;
}

function notAnArchive(path: string, kind: keyof typeof KIND_NAME, err: unknown): Error {
  if (isDrayError(err, "E_MANIFEST_INVALID")) return err;
  const why = err instanceof Error ? err.message : String(err);
  return new UsageError(
    `${path} exists and is not ${KIND_NAME[kind]} (${why}); dray adds images to an archive and does not replace another file: remove it, choose another name, or pass --force to replace it`,
    { code: "E_LOCATION_INVALID", where: path },
  );
}

/**
 * Refuses, when a destination opens and before any blob moves, an existing
 * archive of the kind whose index.json or manifest.json is damaged (what
 * `replacing` refuses at commit, after all the work), and, unless
 * `replaceFile` (`--force`), any other non-empty file that is not an archive
 * of the kind: dray adds images to an archive, and a notes.txt or a tarball
 * of something else at that path is most likely a typo, not a file to destroy.
 * When there is an archive of the kind to add to: the digests of the blobs it
 * holds as `blobs/ALG/HEX` (what a new image sharing them need not add to the
 * new tar's size); undefined when there is none.
 */
export async function checkEarlierArchive(
  path: string,
  kind: keyof typeof KIND_NAME,
  opts: TransportOptions,
): Promise<ReadonlySet<string> | undefined> {
  // Another user's link in /tmp is refused as such before its target is read (what the writer refuses later anyway).
  if (path !== "-") await checkLinkMayBeFollowed(path, `cannot write ${path}`);
  if (!(await exists(path)) || (await isEmptyFile(path))) return undefined;
  try {
    const opened =
      kind === "oci-archive"
        ? await openOciArchive({ transport: kind, path }, opts)
        : await openDockerArchive({ transport: kind, path }, opts);
    await opened.cleanup();
    const tar = "tar" in opened ? opened.tar : opened.blobs.tar;
    return new Set(tar.entries.flatMap((e) => (e.kind === "file" ? (digestOfBlobPath(e.name) ?? []) : [])));
  } catch (err) {
    if (isDrayError(err, "E_MANIFEST_INVALID") || opts.replaceFile !== true) throw notAnArchive(path, kind, err);
    return undefined;
  }
}

/** `sha256:HEX` of a `blobs/sha256/HEX` entry name; undefined for any other name. */
function digestOfBlobPath(name: string): string | undefined {
  const m = /^blobs\/([a-z0-9]+)\/([a-f0-9]+)$/.exec(name);
  return m ? Digest.tryParse(`${m[1]}:${m[2]}`)?.toString() : undefined;
}

async function carryEntries(tar: TarIndex, w: TarWriter, skip: (name: string) => boolean): Promise<void> {
  for (const e of tar.entries) if (!METADATA.has(e.name) && !skip(e.name)) await copyEntry(tar, w, e);
}

/** The docker-archive at `path`, less the RepoTags in `taken` (formatted as formatRepoTag does). */
export async function earlierDockerArchive(
  path: string,
  taken: ReadonlySet<string>,
  opts: TransportOptions,
): Promise<EarlierArchive | undefined> {
  if (!(await exists(path)) || (await isEmptyFile(path))) return undefined;
  let archive: OpenedDockerArchive;
  try {
    archive = await openDockerArchive({ transport: "docker-archive", path }, opts);
  } catch (err) {
    return replacing(path, "docker-archive", err, opts);
  }
  const isTaken = (t: string): boolean => {
    const ref = parseRepoTag(t);
    return ref !== undefined && taken.has(formatRepoTag(ref));
  };
  const items: ManifestItem[] = [];
  const gone: ManifestItem[] = [];
  for (const item of archive.items) {
    const tags = item.RepoTags.filter((t) => !isTaken(t));
    if (item.RepoTags.length > 0 && tags.length === 0) gone.push(item);
    else items.push({ ...item, RepoTags: tags });
  }
  const found = await readArchiveIndex(archive.tar, archive.where);
  const index =
    found &&
    removeEntries(found, (e) => e.desc.annotations?.[CONTAINERD_NAME] !== undefined && isTaken(e.desc.annotations[CONTAINERD_NAME]));
  const drop = new Set<string>();
  for (const g of gone) for (const n of await unreferencedFiles(archive, g, items, index)) drop.add(n);
  return {
    items,
    index,
    carry: (w, written) => carryEntries(archive.tar, w, (n) => drop.has(n) || written.has(n)),
    close: archive.cleanup,
  };
}

/**
 * The oci-archive at `path`: its index.json as `update` changes it, and its
 * blobs that the updated index (with the new manifests in `fresh`) still reaches.
 */
export async function earlierOciArchive(
  path: string,
  update: (index: LayoutIndex) => LayoutIndex,
  fresh: BlobReader,
  opts: TransportOptions,
): Promise<EarlierArchive | undefined> {
  if (!(await exists(path)) || (await isEmptyFile(path))) return undefined;
  let opened: Awaited<ReturnType<typeof openOciArchive>>;
  try {
    opened = await openOciArchive({ transport: "oci-archive", path }, opts);
  } catch (err) {
    return replacing(path, "oci-archive", err, opts);
  }
  const { blobs } = opened;
  const index = update(opened.index);
  const both: BlobReader = {
    root: blobs.root,
    hasBlob: async (d) => (await fresh.hasBlob(d)) || (await blobs.hasBlob(d)),
    readBlob: async (d, o) => ((await fresh.hasBlob(d)) ? fresh.readBlob(d, o) : blobs.readBlob(d, o)),
  };
  const reachable = new Set([...(await reachableBlobs(both, index))].flatMap((d) => Digest.tryParse(d)?.blobPath ?? []));
  return {
    items: [],
    index,
    carry: (w, written) =>
      carryEntries(
        blobs.tar,
        w,
        (n) => written.has(n) || (n.startsWith("blobs/") && blobs.tar.get(n)?.kind !== "directory" && !reachable.has(n)),
      ),
    close: opened.cleanup,
  };
}

/** Every name on the way from `name` through links to a file (all of them must stay if the file stays). */
function linkChain(tar: TarIndex, name: string): string[] {
  const chain: string[] = [];
  let current: string | undefined = name;
  for (let hop = 0; current !== undefined && hop < 20; hop++) {
    chain.push(current);
    current = tar.get(current)?.target;
  }
  return chain;
}

/**
 * The files of a removed image that no remaining image (nor, in a Docker 25+
 * archive, the remaining index.json) references: its config, its layer files
 * and the legacy folders (VERSION, json, layer.tar) that held them; in an
 * archive with index.json, also every blob (its manifest) nothing reaches.
 */
export async function unreferencedFiles(
  archive: OpenedDockerArchive,
  gone: ManifestItem,
  items: ManifestItem[],
  index: LayoutIndex | undefined,
): Promise<Set<string>> {
  const { tar } = archive;
  const keep = new Set<string>();
  for (const i of items) for (const p of [i.Config, ...i.Layers]) for (const n of linkChain(tar, p)) keep.add(n);
  if (index) {
    const reachable = await reachableBlobs(new ArchiveBlobs(tar, archive.where), index);
    for (const d of reachable) {
      const digest = Digest.tryParse(d);
      if (digest) keep.add(digest.blobPath);
    }
  }
  const keptFolders = new Set([...keep].map(folderOf).filter((f): f is string => f !== undefined));
  const candidates = new Set<string>();
  if (index) for (const e of tar.entries) if (e.kind === "file" && e.name.startsWith("blobs/")) candidates.add(e.name);
  for (const p of [gone.Config, ...gone.Layers]) {
    for (const n of linkChain(tar, p)) {
      candidates.add(n);
      const folder = folderOf(n);
      if (folder && !keptFolders.has(folder))
        for (const e of tar.entries) if (e.name === folder || e.name.startsWith(`${folder}/`)) candidates.add(e.name);
    }
  }
  return new Set([...candidates].filter((n) => !keep.has(n)));
}

/** The legacy layer folder of `<id>/layer.tar`, if the name has that shape. */
function folderOf(name: string): string | undefined {
  const m = /^([a-f0-9]{64})\/layer\.tar$/.exec(name);
  return m ? m[1] : undefined;
}
