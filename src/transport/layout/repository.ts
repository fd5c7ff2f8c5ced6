import { NotFoundError } from "../../errors.js";
import type { Digest } from "../../oci/digest.js";
import { parseManifest, type Descriptor, type RawManifest } from "../../oci/manifest.js";
import { isIndexType, isManifestType } from "../../oci/mediatype.js";
import { formatLocation, type LayoutLocation } from "../../ref/location.js";
import { RepositoryBase } from "../repository-base.js";
import type { ImageDestination, ImageSource, RepoRef, TagHead, TransportOptions } from "../types.js";
import type { LayoutDestination } from "./destination.js";
import { reachableBlobs } from "./gc.js";
import { REF_NAME, refName, type LayoutIndex } from "./index-json.js";
import { openLayoutDestination, openLayoutReferences, openLayoutSource } from "./index.js";
import { OciLayout, type LayoutCreation } from "./layout.js";
import type { BlobReader } from "./resolve.js";
import { defined } from "../../defined.js";

/**
 * An OCI layout as a mirror's repository: no referrers API, so the tag schema
 * carries referrers; those stored as ORAS and regclient store them (an
 * index.json entry, often untagged, whose manifest has a `subject`) are
 * found too.
 */
export class LayoutRepository extends RepositoryBase {
  readonly display: string;
  /** What prepare() made, for undoPrepare(). */
  private prepared: { layout: OciLayout; created: LayoutCreation } | undefined;
  /** Per name prefix ("" for every entry): subject → the entries that refer to it, for the index.json last read (keyed by its entries). */
  private readonly bySubject = new Map<string, { key: string; map: Map<string, Descriptor[]> }>();
  /** The writers this repository opened, whose stored blobs undoPrepare() sweeps when nothing reaches them. */
  private readonly opened: LayoutDestination[] = [];

  /** `display`: how messages name it when not by its folder (an archive's staging layout is named by the archive). */
  constructor(
    readonly location: LayoutLocation,
    private readonly opts: TransportOptions,
    display?: string,
  ) {
    super();
    this.display = display ?? formatLocation(location);
  }

  async listTags(): Promise<string[]> {
    const refs = await openLayoutReferences(this.location, this.opts);
    try {
      return await refs.listTags();
    } finally {
      await refs.close();
    }
  }

  /**
   * Creates the layout before parallel writers open it: two writers creating
   * the same new folder at once could each find the other's files without
   * an `oci-layout` yet, and refuse the folder.
   */
  async prepare(): Promise<void> {
    const made = await OciLayout.createTracked(this.location.path);
    this.prepared ??= made; // a second call (prune's) made nothing new
  }

  /**
   * After the run: a layout folder (or layout files) prepare() made goes
   * again when no image was stored in it, as a failed copy's does; and what
   * this run's writers stored that index.json does not reach (a failed
   * image's blobs, left by its writer while others still ran) is removed,
   * unless a writer of another process is running.
   */
  async undoPrepare(): Promise<void> {
    const p = this.prepared;
    this.prepared = undefined;
    const written = this.opened.splice(0).flatMap((d) => d.blobsWritten);
    if (!p) return;
    await p.layout.discardIfEmpty(p.created, async (index) => {
      if (written.length === 0) return;
      const reachable = await reachableBlobs(p.layout, index);
      for (const d of written) if (!reachable.has(d.toString())) await p.layout.removeBlob(d);
    });
  }

  /** The layout, or undefined when the directory does not exist yet. */
  private async layout(): Promise<OciLayout | undefined> {
    try {
      return await OciLayout.open(this.location.path);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  async hasManifest(digest: Digest): Promise<boolean> {
    return (await (await this.layout())?.hasBlob(digest)) === true;
  }

  async resolve(tag: string): Promise<TagHead | undefined> {
    const layout = await this.layout();
    if (!layout) return undefined;
    const index = await layout.readIndex();
    const entry = index.entries.find((e) => e.desc.annotations?.[REF_NAME] === tag);
    return entry && { digest: entry.desc.digest, mediaType: entry.desc.mediaType, size: entry.desc.size };
  }

  async getManifest(ref: string | Digest): Promise<RawManifest> {
    const src = await this.openSource(typeof ref === "string" ? { tag: ref } : { digest: ref });
    try {
      return await src.getManifest();
    } finally {
      await src.close();
    }
  }

  /** A layout REF is a tag or a digest: reading prefers the digest, writing the tag. */
  at(ref: RepoRef, forWriting = false): LayoutLocation {
    const base = { transport: "oci" as const, path: this.location.path };
    if (ref.digest && !(forWriting && ref.tag)) return { ...base, ref: { kind: "digest", digest: ref.digest } };
    if (ref.tag) return { ...base, ref: { kind: "tag", tag: ref.tag } };
    return base;
  }

  openSource(ref: RepoRef): Promise<ImageSource> {
    return openLayoutSource(this.at(ref), this.opts);
  }

  async openDestination(ref: RepoRef): Promise<ImageDestination> {
    const dst = await openLayoutDestination(this.at(ref, true), this.opts);
    this.opened.push(dst);
    return dst;
  }

  /** Drops the ref.name, and the blobs nothing references any more. */
  async removeTag(tag: string): Promise<Digest | undefined> {
    const refs = await openLayoutReferences(this.at({ tag }), this.opts);
    try {
      return (await refs.deleteReference()).digest;
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    } finally {
      await refs.close();
    }
  }

  protected async referrersApi(): Promise<Descriptor[] | undefined> {
    return undefined;
  }

  /**
   * The index.json entries whose manifest's `subject` is `subject`, each as
   * the referrers API would list it (with its artifactType and annotations).
   * Every entry's manifest is read once per state of index.json, however
   * many subjects are asked about; one that cannot be read or parsed is no
   * referrer (its own command reports it).
   */
  override storedReferrers(subject: Digest): Promise<Descriptor[]> {
    return this.storedReferrersNamed(subject, "");
  }

  /**
   * storedReferrers among the entries whose ref.name starts with `prefix`:
   * one repository of a mirror archive (`REPO:`), whose referrers are not
   * another repository's though the archive stores each digest once. ""
   * takes every entry, unnamed ones included (a plain layout).
   */
  async storedReferrersNamed(subject: Digest, prefix: string): Promise<Descriptor[]> {
    const layout = await this.layout();
    if (!layout) return [];
    const index = await layout.readIndex();
    const key = index.entries.map((e) => `${e.desc.digest.toString()}=${refName(e) ?? ""}`).join(",");
    let cached = this.bySubject.get(prefix);
    if (cached?.key !== key) {
      cached = { key, map: await subjectsOf(layout, index, prefix) };
      this.bySubject.set(prefix, cached);
    }
    return cached.map.get(subject.toString()) ?? [];
  }

  async hasReferrersApi(): Promise<boolean> {
    return false;
  }
}

/**
 * Subject digest → the entries of `index` whose manifest refers to it, in
 * index.json order, each digest once (a layout's, or an oci-archive's read in
 * place).
 */
export async function subjectsOf(layout: BlobReader, index: LayoutIndex, prefix = ""): Promise<Map<string, Descriptor[]>> {
  const map = new Map<string, Descriptor[]>();
  const seen = new Set<string>();
  for (const entry of index.entries) {
    const desc = entry.desc;
    if (prefix !== "" && !refName(entry)?.startsWith(prefix)) continue;
    if (!isManifestType(desc.mediaType) && !isIndexType(desc.mediaType)) continue;
    if (seen.has(desc.digest.toString())) continue;
    seen.add(desc.digest.toString());
    let parsed;
    try {
      parsed = parseManifest(await layout.readBlob(desc.digest, { size: desc.size }), desc.mediaType);
    } catch {
      continue;
    }
    if (!parsed.subject) continue;
    const artifactType = parsed.artifactType ?? (parsed.kind === "manifest" ? parsed.config.mediaType : undefined);
    const listed: Descriptor = {
      mediaType: desc.mediaType,
      digest: desc.digest,
      size: desc.size,
      ...(artifactType ? { artifactType } : {}),
      ...defined({ annotations: parsed.annotations }),
    };
    const key = parsed.subject.digest.toString();
    map.set(key, [...(map.get(key) ?? []), listed]);
  }
  return map;
}
