/**
 * One repository of a mirror archive (src/sync/archive.ts): the images of the
 * staging layout named `REPO:TAG`, seen as a repository whose tags are TAG.
 */
import type { Digest } from "../../oci/digest.js";
import type { Descriptor, RawManifest } from "../../oci/manifest.js";
import { formatLocation, type LayoutLocation, type Location } from "../../ref/location.js";
import { RepositoryBase } from "../repository-base.js";
import type { ImageDestination, ImageSource, RepoRef, Repository, SignalOption, TagHead } from "../types.js";
import type { MirrorArchive } from "./mirror.js";
import { LayoutRepository } from "../layout/repository.js";
import { WrappedDestination } from "../wrapped-destination.js";

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

  /** Nothing to ready: the staging layout exists; a write (openDestination, removeTag) marks the archive changed, so an up-to-date run packs nothing. */
  async prepare(): Promise<void> {}

  async listTags(opts?: SignalOption): Promise<string[]> {
    const all = await this.inner.listTags(opts);
    return all.filter((n) => n.startsWith(this.prefix)).map((n) => n.slice(this.prefix.length));
  }

  resolve(tag: string, opts?: SignalOption): Promise<TagHead | undefined> {
    return this.inner.resolve(`${this.prefix}${tag}`, opts);
  }

  hasManifest(digest: Digest, opts?: SignalOption): Promise<boolean> {
    return this.inner.hasManifest(digest, opts);
  }

  getManifest(ref: string | Digest, opts?: SignalOption): Promise<RawManifest> {
    return this.inner.getManifest(typeof ref === "string" ? `${this.prefix}${ref}` : ref, opts);
  }

  /** The staging layout's location of `ref`. */
  at(ref: RepoRef): Location {
    return this.inner.at(this.map(ref));
  }

  openSource(ref: RepoRef): Promise<ImageSource> {
    return this.inner.openSource(this.map(ref));
  }

  async openDestination(ref: RepoRef): Promise<ImageDestination> {
    this.archive.touch();
    return new SpaceCheckedDestination(await this.inner.openDestination(this.map(ref)), this.archive);
  }

  removeTag(tag: string, opts?: SignalOption): Promise<Digest | undefined> {
    this.archive.touch();
    return this.inner.removeTag(`${this.prefix}${tag}`, opts);
  }

  protected async referrersApi(): Promise<Descriptor[] | undefined> {
    return undefined;
  }

  /**
   * The staging layout's entries named `REPO:…` that carry `subject`: a referrer stored by digest alone (unnamed)
   * belongs to no one repository, so it counts where the repository's `REPO:sha256-<hex>` index lists it (as the
   * registry's referrers API answers per repository), not for every repository holding an image of that digest.
   */
  protected override storedReferrers(subject: Digest): Promise<Descriptor[]> {
    return this.inner instanceof LayoutRepository ? this.inner.storedReferrersNamed(subject, this.prefix) : Promise.resolve([]);
  }

  async hasReferrersApi(): Promise<boolean> {
    return false;
  }
}

/** A staging-layout destination that reserves the mirror's room before an image's first blob moves. */
class SpaceCheckedDestination extends WrappedDestination {
  private release: ((failed: boolean) => void) | undefined;

  constructor(
    inner: ImageDestination,
    private readonly archive: MirrorArchive,
  ) {
    super(inner, inner.location);
  }

  async reserveSpace(blobs: readonly { digest: string; size: number }[]): Promise<void> {
    const release = await this.archive.space.reserve(blobs);
    const before = this.release;
    this.release = (failed) => {
      before?.(failed);
      release(failed);
    };
  }

  protected ended(committed: boolean): void {
    this.release?.(!committed);
  }
}
