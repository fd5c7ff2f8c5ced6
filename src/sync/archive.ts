/**
 * A whole mirror in one oci-archive: `dray sync SRC oci-archive:FILE` puts
 * every repository's images in one tar, each named `REPO:TAG` (ref.name may
 * hold `/` and `:`: OCI image-layout, "ref.name" grammar), referrers by digest
 * and their `REPO:sha256-<hex>` tag-schema indexes beside them; `dray sync
 * oci-archive:FILE PREFIX` puts them back, one repository per name.
 *
 * The archive is unpacked into a staging OCI layout beside it (a tar cannot
 * be changed in place), the run reads and writes that layout through the
 * layout transport, and at the end the layout is packed into a new tar that
 * is renamed over the old one: a second sync adds to what the archive held,
 * an interrupted one leaves the archive as it was. Disk: the archive's size
 * twice, for the duration of the run.
 */
import { createWriteStream } from "node:fs";
import { mkdir, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { UsageError } from "../errors.js";
import type { Digest } from "../oci/digest.js";
import type { Descriptor, RawManifest } from "../oci/manifest.js";
import { formatLocation, type LayoutLocation, type Location } from "../ref/location.js";
import { RepositoryBase } from "../transport/repository.js";
import { listNames } from "../transport/layout/index-json.js";
import type { ImageDestination, ImageSource, RepoRef, Repository, TagHead, TransportOptions } from "../transport/types.js";

/** `team/app:1.0` → team/app and 1.0 (a tag holds no colon, so the last one splits). */
export function splitRefName(name: string): { repository: string; tag: string } | undefined {
  const i = name.lastIndexOf(":");
  if (i <= 0 || i === name.length - 1) return undefined;
  return { repository: name.slice(0, i), tag: name.slice(i + 1) };
}

/** The location of repository `repository` inside the mirror archive `file` (how sync names it: `oci-archive:FILE:team/app`). */
export function archiveRepository(file: string, repository: string): LayoutLocation {
  return { transport: "oci-archive", path: file, ref: { kind: "tag", tag: repository } };
}

/** The mirror archives a run opened, by file. */
export type MirrorArchives = ReadonlyMap<string, MirrorArchive>;

/** One mirror archive for the length of a run: its staging layout, packed back at the end. */
export class MirrorArchive {
  private changed = false;

  private constructor(
    readonly file: string,
    /** The staging folder; the layout is its `layout/`. */
    private readonly tmp: string,
  ) {}

  get layoutPath(): string {
    return join(this.tmp, "layout");
  }

  /** Unpacks `file` (when it exists) into a staging layout beside it. */
  static async open(file: string, opts: TransportOptions): Promise<MirrorArchive> {
    if (file === "-") throw new UsageError("sync needs a file for an oci-archive mirror, not standard input or output");
    const { makeSpoolDir } = await import("../transport/archive/staging.js");
    const archive = new MirrorArchive(file, await makeSpoolDir(file, opts));
    try {
      if (await exists(file)) await archive.unpack();
      const { OciLayout } = await import("../transport/layout/layout.js");
      await OciLayout.create(archive.layoutPath);
    } catch (err) {
      await archive.close();
      throw err;
    }
    return archive;
  }

  private async unpack(): Promise<void> {
    const { TarIndex } = await import("../transport/archive/tar-index.js");
    const tar = await TarIndex.open(this.file);
    const layout = this.layoutPath;
    await mkdir(layout, { recursive: true });
    for (const entry of tar.entries) {
      if (entry.kind !== "file") continue;
      const isBlob = /^blobs\/[a-z0-9]+\/[a-f0-9]+$/.test(entry.name);
      if (!isBlob && entry.name !== "index.json" && entry.name !== "oci-layout") continue;
      const target = join(layout, ...entry.name.split("/"));
      if (isBlob) await mkdir(join(target, ".."), { recursive: true });
      // Blobs are verified when the layout serves them, like any layout's.
      await pipeline(tar.stream(entry), createWriteStream(target, { mode: 0o644 }));
    }
  }

  /** Repositories named in the archive (`team/app` of `team/app:1.0`), sorted. */
  async repositories(): Promise<string[]> {
    const { OciLayout } = await import("../transport/layout/layout.js");
    const names = listNames(await (await OciLayout.open(this.layoutPath)).readIndex());
    return [...new Set(names.flatMap((n) => splitRefName(n)?.repository ?? []))].sort();
  }

  /** Something was written into the staging layout: publish() has work to do. */
  touch(): void {
    this.changed = true;
  }

  /** Packs the staging layout into a new tar renamed over the archive (oci-layout first, index.json last). */
  async publish(opts: TransportOptions): Promise<void> {
    if (!this.changed) return;
    const { ArchiveOutput } = await import("../transport/archive/staging.js");
    const out = await ArchiveOutput.open(this.file, opts);
    try {
      const layout = this.layoutPath;
      await out.writer.addBuffer("oci-layout", await readFile(join(layout, "oci-layout")));
      for (const alg of await readdir(join(layout, "blobs"))) {
        if (alg.startsWith(".")) continue;
        for (const hex of (await readdir(join(layout, "blobs", alg))).sort()) {
          if (hex.startsWith(".")) continue; // a writer's temporary
          const name = `blobs/${alg}/${hex}`;
          const path = join(layout, "blobs", alg, hex);
          await out.writer.addParents(name);
          await out.writer.addFile(name, path, (await stat(path)).size);
        }
      }
      await out.writer.addBuffer("index.json", await readFile(join(layout, "index.json")));
    } catch (err) {
      await out.discard();
      throw err;
    }
    await out.publish();
  }

  /** Removes the staging folder. */
  async close(): Promise<void> {
    const { removeDir } = await import("../transport/archive/staging.js");
    await removeDir(this.tmp);
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * One repository of a mirror archive, as sync sees it: the staging layout's
 * images whose ref.name starts with `REPO:`, tags without that prefix.
 * Manifests by digest are the layout's.
 */
export class ArchiveRepository extends RepositoryBase {
  readonly display: string;

  /** `inner`: the staging layout as a repository (`archive.layoutPath`). */
  constructor(
    readonly location: LayoutLocation,
    private readonly archive: MirrorArchive,
    private readonly inner: Repository,
  ) {
    super();
    this.display = formatLocation(location);
  }

  private get prefix(): string {
    return `${this.location.ref?.kind === "tag" ? this.location.ref.tag : ""}:`;
  }

  private map(ref: RepoRef): RepoRef {
    return ref.tag === undefined ? ref : { ...ref, tag: `${this.prefix}${ref.tag}` };
  }

  async prepare(): Promise<void> {
    this.archive.touch();
  }

  async listTags(): Promise<string[]> {
    const all = await this.inner.listTags();
    return all.filter((n) => n.startsWith(this.prefix)).map((n) => n.slice(this.prefix.length));
  }

  resolve(tag: string): Promise<TagHead | undefined> {
    return this.inner.resolve(`${this.prefix}${tag}`);
  }

  hasManifest(digest: Digest): Promise<boolean> {
    return this.inner.hasManifest(digest);
  }

  getManifest(ref: string | Digest): Promise<RawManifest> {
    return this.inner.getManifest(typeof ref === "string" ? `${this.prefix}${ref}` : ref);
  }

  /** The staging layout's location of `ref` (what prune deletes through). */
  at(ref: RepoRef): Location {
    return this.inner.at(this.map(ref));
  }

  openSource(ref: RepoRef): Promise<ImageSource> {
    return this.inner.openSource(this.map(ref));
  }

  openDestination(ref: RepoRef): Promise<ImageDestination> {
    this.archive.touch();
    return this.inner.openDestination(this.map(ref));
  }

  async referrersApi(): Promise<Descriptor[] | undefined> {
    return undefined;
  }

  async hasReferrersApi(): Promise<boolean> {
    return false;
  }
}
