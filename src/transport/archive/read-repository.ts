/**
 * An oci-archive as a repository to read referrers from, in place: the tar
 * indexed once, nothing unpacked, so `dray referrers` and `copy --referrers`
 * out of an archive cost no copy of it and work on read-only media (an
 * air-gapped import from a mounted USB stick). Writing goes through the staged
 * layout instead (RepositoryFactory.openStaged). For a whole-mirror archive
 * (`oci-archive:FILE:REPO:TAG`), the names under `REPO:` are its tags.
 */
import { UnsupportedError } from "../../errors.js";
import type { Digest } from "../../oci/digest.js";
import type { Descriptor, RawManifest } from "../../oci/manifest.js";
import { formatLocation, type LayoutLocation } from "../../ref/location.js";
import { entriesNamed, listNames, type LayoutIndex } from "../layout/index-json.js";
import { subjectsOf } from "../layout/repository.js";
import { LayoutSource } from "../layout/source.js";
import { RepositoryBase } from "../repository-base.js";
import type { ImageDestination, ImageSource, RepoRef, TagHead } from "../types.js";
import type { ArchiveBlobs } from "./oci-archive.js";

export class ArchiveReadRepository extends RepositoryBase {
  readonly display: string;
  private bySubject: Promise<Map<string, Descriptor[]>> | undefined;

  /** `prefix`: `REPO:` for a repository of a mirror archive, "" for a plain archive. */
  constructor(
    readonly location: LayoutLocation,
    private readonly blobs: ArchiveBlobs,
    private readonly index: LayoutIndex,
    private readonly prefix: string,
  ) {
    super();
    this.display = formatLocation(
      prefix ? { ...location, ref: { kind: "tag", tag: prefix.slice(0, -1) } } : { ...location, ref: undefined },
    );
  }

  async prepare(): Promise<void> {
    throw this.readOnly();
  }

  async listTags(): Promise<string[]> {
    return listNames(this.index)
      .filter((n) => n.startsWith(this.prefix))
      .map((n) => n.slice(this.prefix.length));
  }

  async resolve(tag: string): Promise<TagHead | undefined> {
    const [entry] = entriesNamed(this.index, `${this.prefix}${tag}`);
    return entry && { digest: entry.desc.digest, mediaType: entry.desc.mediaType, size: entry.desc.size };
  }

  hasManifest(digest: Digest): Promise<boolean> {
    return this.blobs.hasBlob(digest);
  }

  async getManifest(ref: string | Digest): Promise<RawManifest> {
    return this.source(typeof ref === "string" ? { tag: ref } : { digest: ref }).getManifest();
  }

  at(ref: RepoRef): LayoutLocation {
    const base = { transport: "oci-archive" as const, path: this.location.path };
    if (ref.digest) return { ...base, ref: { kind: "digest", digest: ref.digest } };
    if (ref.tag !== undefined) return { ...base, ref: { kind: "tag", tag: `${this.prefix}${ref.tag}` } };
    return base;
  }

  private source(ref: RepoRef): LayoutSource {
    // The archive stays open for the repository's life; closing a source releases nothing of it.
    return new LayoutSource(this.at(ref), this.blobs, this.index);
  }

  async openSource(ref: RepoRef): Promise<ImageSource> {
    return this.source(ref);
  }

  async openDestination(): Promise<ImageDestination> {
    throw this.readOnly();
  }

  async removeTag(): Promise<Digest | undefined> {
    throw this.readOnly();
  }

  protected async referrersApi(): Promise<Descriptor[] | undefined> {
    return undefined;
  }

  /** A mirror archive's repository: only entries named `REPO:…` (see ArchiveRepository.storedReferrers). */
  protected override async storedReferrers(subject: Digest): Promise<Descriptor[]> {
    this.bySubject ??= subjectsOf(this.blobs, this.index, this.prefix);
    return (await this.bySubject).get(subject.toString()) ?? [];
  }

  async hasReferrersApi(): Promise<boolean> {
    return false;
  }

  private readOnly(): UnsupportedError {
    return new UnsupportedError(`${this.display} is open for reading here`, { where: this.display });
  }
}
