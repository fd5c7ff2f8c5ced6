/**
 * One repository on one side of a mirror: a registry repository
 * (`docker://host/repo`) or an OCI layout directory (`oci:DIR`). Sync and
 * referrer copying ask it the few questions that make a re-run cheap: the
 * tags, what one tag names now (one HEAD, or one index.json read), and
 * whether the store has the referrers API. Sources and destinations for the
 * copy engine are opened through it, so one registry client (and its token
 * cache) serves every image of the repository.
 */
import { NotFoundError, UnsupportedError } from "../errors.js";
import { Digest } from "../oci/digest.js";
import type { Descriptor, RawManifest } from "../oci/manifest.js";
import { formatLocation, type LayoutLocation, type Location, type RegistryLocation } from "../ref/location.js";
import { openDestination, openReferences, openSource } from "../transport/index.js";
import type { OciLayout } from "../transport/layout/layout.js";
import type { RegistryClient } from "../transport/registry/client.js";
import type { ImageDestination, ImageSource, TransportOptions } from "../transport/types.js";

/** What a tag names now. */
export interface TagHead {
  digest: Digest;
  mediaType: string;
}

/** A tag, a digest, or both (the digest wins for reading, the tag names what is written). */
export interface RepoRef {
  tag?: string;
  digest?: Digest;
}

export interface Repository {
  /** The repository itself, without tag or digest. */
  readonly location: Location;
  /** `docker://host/repo` or `oci:DIR`, for messages. */
  readonly display: string;
  /** Readies a destination before images are written into it in parallel (creates a layout's folder once). */
  prepare(): Promise<void>;
  /** Tags (ref.names in a layout). A repository or layout that does not exist is E_NOT_FOUND. */
  listTags(): Promise<string[]>;
  /** What `tag` names now, or undefined when it names nothing (one HEAD; one index.json read). */
  resolve(tag: string): Promise<TagHead | undefined>;
  /** True when the manifest `digest` is stored (one HEAD; a blob stat in a layout). */
  hasManifest(digest: Digest): Promise<boolean>;
  /** A manifest by tag or digest, digest-checked. */
  getManifest(ref: string | Digest): Promise<RawManifest>;
  /** The location of `ref` in this repository. */
  at(ref: RepoRef): Location;
  openSource(ref: RepoRef): Promise<ImageSource>;
  openDestination(ref: RepoRef): Promise<ImageDestination>;
  /**
   * The referrers API's answer for `subject`, or undefined when the store has
   * no referrers API (distribution 2.8 answers 404; a layout has none). Then
   * the tag schema is what carries referrers.
   */
  referrersApi(subject: Digest): Promise<Descriptor[] | undefined>;
  /** True when the store indexes a pushed manifest's `subject` itself (no fallback tag to maintain). */
  hasReferrersApi(): Promise<boolean>;
}

/**
 * Shared by the repositories of one side of a run: one registry client per
 * registry (and its credentials), and what each registry answered about the
 * referrers API, so it is asked once.
 */
export class RepositoryFactory {
  private readonly clients = new Map<string, Promise<RegistryClient>>();
  /** domain → whether its referrers API exists; settled by the first answer. */
  private readonly apiSupport = new Map<string, Promise<boolean>>();

  /** `options(loc)` gives the TransportOptions for a location (credentials per registry). */
  constructor(readonly options: (loc: Location) => TransportOptions = () => ({})) {}

  /** The repository `loc` names (a tag or digest in `loc` is ignored). */
  open(loc: Location): Repository {
    switch (loc.transport) {
      case "docker": {
        const { tag: _t, digest: _d, ...ref } = loc.ref;
        return new RegistryRepository({ transport: "docker", ref }, this);
      }
      case "oci":
        return new LayoutRepository({ transport: "oci", path: loc.path }, this.options(loc));
      default:
        throw new UnsupportedError(`${formatLocation(loc)}: sync and referrers work with registries and OCI layouts (oci:DIR), not archives`);
    }
  }

  client(loc: RegistryLocation): Promise<RegistryClient> {
    const domain = loc.ref.domain;
    let c = this.clients.get(domain);
    if (!c) {
      const opts = this.options(loc);
      c = import("../transport/registry/client.js").then((m) => new m.RegistryClient(domain, opts));
      this.clients.set(domain, c);
    }
    return c;
  }

  /** Asks the referrers API unless the registry already said it has none; the first answer settles support. */
  async referrers(loc: RegistryLocation, subject: Digest): Promise<Descriptor[] | undefined> {
    const domain = loc.ref.domain;
    const known = this.apiSupport.get(domain);
    if (known && !(await known)) return undefined;
    const answer = Promise.all([import("./api.js"), this.client(loc)]).then(([m, client]) => m.fetchReferrersApi(client, loc.ref.path, subject));
    if (!known) this.apiSupport.set(domain, answer.then((d) => d !== undefined, () => false));
    return answer;
  }

  /** Whether the registry has the referrers API (probed once with a subject nobody refers to). */
  async hasReferrersApi(loc: RegistryLocation): Promise<boolean> {
    const known = this.apiSupport.get(loc.ref.domain);
    if (known) return known;
    // A registry with the API answers 200 and an empty index for an unknown subject.
    return (await this.referrers(loc, Digest.of("dray referrers API probe"))) !== undefined;
  }
}

class RegistryRepository implements Repository {
  readonly display: string;

  constructor(
    readonly location: RegistryLocation,
    private readonly factory: RepositoryFactory,
  ) {
    this.display = formatLocation(location);
  }

  private get repo(): string {
    return this.location.ref.path;
  }

  async prepare(): Promise<void> {
    // A registry creates a repository on the first push.
  }

  private client(): Promise<RegistryClient> {
    return this.factory.client(this.location);
  }

  async listTags(): Promise<string[]> {
    return (await this.client()).listTags(this.repo);
  }

  async resolve(tag: string): Promise<TagHead | undefined> {
    const head = await (await this.client()).headManifest(this.repo, tag);
    return head && { digest: head.digest, mediaType: head.mediaType };
  }

  async hasManifest(digest: Digest): Promise<boolean> {
    return (await (await this.client()).headManifest(this.repo, digest.toString())) !== undefined;
  }

  async getManifest(ref: string | Digest): Promise<RawManifest> {
    return (await this.client()).getManifest(this.repo, ref.toString());
  }

  at(ref: RepoRef): RegistryLocation {
    return { transport: "docker", ref: { ...this.location.ref, ...(ref.tag ? { tag: ref.tag } : {}), ...(ref.digest ? { digest: ref.digest } : {}) } };
  }

  async openSource(ref: RepoRef): Promise<ImageSource> {
    const { RegistrySource } = await import("../transport/registry/source.js");
    return new RegistrySource(this.at(ref), await this.client());
  }

  async openDestination(ref: RepoRef): Promise<ImageDestination> {
    const { RegistryDestination } = await import("../transport/registry/destination.js");
    return new RegistryDestination(this.at(ref), await this.client());
  }

  referrersApi(subject: Digest): Promise<Descriptor[] | undefined> {
    return this.factory.referrers(this.location, subject);
  }

  hasReferrersApi(): Promise<boolean> {
    return this.factory.hasReferrersApi(this.location);
  }
}

class LayoutRepository implements Repository {
  readonly display: string;

  constructor(
    readonly location: LayoutLocation,
    private readonly opts: TransportOptions,
  ) {
    this.display = formatLocation(location);
  }

  async listTags(): Promise<string[]> {
    const refs = await openReferences(this.location, this.opts);
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
    const { OciLayout: Layout } = await import("../transport/layout/layout.js");
    await Layout.create(this.location.path);
  }

  /** The layout, or undefined when the directory does not exist yet. */
  private async layout(): Promise<OciLayout | undefined> {
    const { OciLayout: Layout } = await import("../transport/layout/layout.js");
    try {
      return await Layout.open(this.location.path);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  async hasManifest(digest: Digest): Promise<boolean> {
    return (await (await this.layout())?.hasBlob(digest)) === true;
  }

  async resolve(tag: string): Promise<TagHead | undefined> {
    const { REF_NAME } = await import("../transport/layout/index-json.js");
    const layout = await this.layout();
    if (!layout) return undefined;
    const index = await layout.readIndex();
    const entry = index.entries.find((e) => e.desc.annotations?.[REF_NAME] === tag);
    return entry && { digest: entry.desc.digest, mediaType: entry.desc.mediaType };
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
    return openSource(this.at(ref), this.opts);
  }

  openDestination(ref: RepoRef): Promise<ImageDestination> {
    return openDestination(this.at(ref, true), this.opts);
  }

  async referrersApi(): Promise<Descriptor[] | undefined> {
    return undefined;
  }

  async hasReferrersApi(): Promise<boolean> {
    return false;
  }
}
