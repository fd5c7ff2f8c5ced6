import type { Digest } from "../../oci/digest.js";
import type { Descriptor, RawManifest } from "../../oci/manifest.js";
import { formatLocation, type Location, type RegistryLocation } from "../../ref/location.js";
import { RepositoryBase } from "../repository-base.js";
import type { ImageDestination, ImageSource, RepoRef, SignalOption, TagHead, TransportOptions } from "../types.js";
import { RegistryClient } from "./client.js";
import { RegistryDestination } from "./destination.js";
import { RegistrySource } from "./source.js";
import { untag } from "./untag.js";
import { defined } from "../../defined.js";

/**
 * One registry client per registry, and whether each repository has the
 * referrers API. That is settled per repository, not per host: one host may
 * front several backends (Harbor proxy-cache projects, Artifactory virtual
 * repositories), and a repository's first real answer is what counts.
 */
export class RegistryRepositories {
  private readonly clients = new Map<string, RegistryClient>();
  /** `domain/path` → whether its referrers API exists. */
  private readonly apiSupport = new Map<string, Promise<boolean>>();

  constructor(private readonly options: (loc: Location) => TransportOptions) {}

  /** The options a location is reached with (its mirrors for reads among them). */
  optionsFor(loc: RegistryLocation): TransportOptions {
    return this.options(loc);
  }

  open(loc: RegistryLocation): RegistryRepository {
    const { tag: _t, digest: _d, ...ref } = loc.ref;
    return new RegistryRepository({ transport: "docker", ref }, this);
  }

  client(loc: RegistryLocation): RegistryClient {
    const domain = loc.ref.domain;
    let c = this.clients.get(domain);
    if (!c) {
      c = new RegistryClient(domain, this.options(loc));
      this.clients.set(domain, c);
    }
    return c;
  }

  catalog(domain: string, signal?: AbortSignal): Promise<string[]> {
    return this.client({ transport: "docker", ref: { domain, path: "" } }).catalog(undefined, signal);
  }

  /** Asks the referrers API unless the repository already said it has none; the first answer settles support. */
  async referrers(loc: RegistryLocation, subject: Digest, signal?: AbortSignal): Promise<Descriptor[] | undefined> {
    const key = repositoryKey(loc);
    const known = this.apiSupport.get(key);
    if (known && !(await known)) return undefined;
    const answer = this.client(loc)
      .referrersApi(loc.ref.path, subject, undefined, signal)
      .then((a) => a?.descriptors);
    if (!known)
      this.apiSupport.set(
        key,
        answer.then(
          (d) => d !== undefined,
          () => false,
        ),
      );
    return answer;
  }

  /**
   * Whether the repository indexes subjects itself: a manifest PUT there was
   * answered with `OCI-Subject`, or the referrers API answered for `subject`
   * (the real one: an answer about a made-up digest is where Quay and Harbor
   * bend the spec; see RegistryClient.referrersApi).
   */
  async hasReferrersApi(loc: RegistryLocation, subject: Digest, signal?: AbortSignal): Promise<boolean> {
    if (this.client(loc).indexesSubjects(loc.ref.path)) return true;
    const known = this.apiSupport.get(repositoryKey(loc));
    if (known) return known;
    return (await this.referrers(loc, subject, signal)) !== undefined;
  }
}

function repositoryKey(loc: RegistryLocation): string {
  return `${loc.ref.domain}/${loc.ref.path}`;
}

export class RegistryRepository extends RepositoryBase {
  readonly display: string;

  constructor(
    readonly location: RegistryLocation,
    private readonly registries: RegistryRepositories,
  ) {
    super();
    this.display = formatLocation(location);
  }

  private get repo(): string {
    return this.location.ref.path;
  }

  private get client(): RegistryClient {
    return this.registries.client(this.location);
  }

  async prepare(): Promise<void> {
    // A registry creates a repository on the first push.
  }

  listTags(opts: SignalOption = {}): Promise<string[]> {
    return this.client.listTags(this.repo, undefined, opts.signal);
  }

  async resolve(tag: string, opts: SignalOption = {}): Promise<TagHead | undefined> {
    const head = await this.client.headManifest(this.repo, tag, opts.signal);
    return head && { digest: head.digest, mediaType: head.mediaType, size: head.size };
  }

  async hasManifest(digest: Digest, opts: SignalOption = {}): Promise<boolean> {
    return (await this.client.headManifest(this.repo, digest.toString(), opts.signal)) !== undefined;
  }

  getManifest(ref: string | Digest, opts: SignalOption = {}): Promise<RawManifest> {
    return this.client.getManifest(this.repo, ref.toString(), opts.signal);
  }

  at(ref: RepoRef): RegistryLocation {
    return {
      transport: "docker",
      ref: { ...this.location.ref, ...(ref.tag ? { tag: ref.tag } : {}), ...defined({ digest: ref.digest }) },
    };
  }

  async openSource(ref: RepoRef): Promise<ImageSource> {
    const loc = this.at(ref);
    const opts = this.registries.optionsFor(loc);
    if (opts.mirrors || opts.registriesConf !== undefined) {
      const { openThroughMirrors } = await import("../mirrors.js");
      const { openRegistrySource } = await import("./index.js");
      const mirrored = await openThroughMirrors(loc, opts, openRegistrySource);
      if (mirrored) return mirrored;
    }
    return new RegistrySource(loc, this.client);
  }

  async openDestination(ref: RepoRef): Promise<ImageDestination> {
    return new RegistryDestination(this.at(ref), this.client);
  }

  protected referrersApi(subject: Digest, opts: SignalOption = {}): Promise<Descriptor[] | undefined> {
    return this.registries.referrers(this.location, subject, opts.signal);
  }

  removeTag(tag: string, opts: SignalOption = {}): Promise<Digest | undefined> {
    return untag(this.client, this.repo, tag, opts.signal);
  }

  hasReferrersApi(subject: Digest, opts: SignalOption = {}): Promise<boolean> {
    return this.registries.hasReferrersApi(this.location, subject, opts.signal);
  }
}
