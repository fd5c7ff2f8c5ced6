import { Digest } from "../../oci/digest.js";
import type { Descriptor, RawManifest } from "../../oci/manifest.js";
import { formatLocation, type Location, type RegistryLocation } from "../../ref/location.js";
import { RepositoryBase } from "../repository.js";
import type { ImageDestination, ImageSource, RepoRef, TagHead, TransportOptions } from "../types.js";
import { RegistryClient } from "./client.js";
import { RegistryDestination } from "./destination.js";
import { RegistrySource } from "./source.js";

/** One registry client per registry, and whether each has the referrers API (settled by its first answer). */
export class RegistryRepositories {
  private readonly clients = new Map<string, RegistryClient>();
  /** domain → whether its referrers API exists. */
  private readonly apiSupport = new Map<string, Promise<boolean>>();

  constructor(private readonly options: (loc: Location) => TransportOptions) {}

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

  catalog(domain: string): Promise<string[]> {
    return this.client({ transport: "docker", ref: { domain, path: "" } }).catalog();
  }

  /** Asks the referrers API unless the registry already said it has none; the first answer settles support. */
  async referrers(loc: RegistryLocation, subject: Digest): Promise<Descriptor[] | undefined> {
    const domain = loc.ref.domain;
    const known = this.apiSupport.get(domain);
    if (known && !(await known)) return undefined;
    const answer = this.client(loc)
      .referrersApi(loc.ref.path, subject)
      .then((a) => a?.descriptors);
    if (!known)
      this.apiSupport.set(
        domain,
        answer.then(
          (d) => d !== undefined,
          () => false,
        ),
      );
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

  listTags(): Promise<string[]> {
    return this.client.listTags(this.repo);
  }

  async resolve(tag: string): Promise<TagHead | undefined> {
    const head = await this.client.headManifest(this.repo, tag);
    return head && { digest: head.digest, mediaType: head.mediaType };
  }

  async hasManifest(digest: Digest): Promise<boolean> {
    return (await this.client.headManifest(this.repo, digest.toString())) !== undefined;
  }

  getManifest(ref: string | Digest): Promise<RawManifest> {
    return this.client.getManifest(this.repo, ref.toString());
  }

  at(ref: RepoRef): RegistryLocation {
    return {
      transport: "docker",
      ref: { ...this.location.ref, ...(ref.tag ? { tag: ref.tag } : {}), ...(ref.digest ? { digest: ref.digest } : {}) },
    };
  }

  async openSource(ref: RepoRef): Promise<ImageSource> {
    return new RegistrySource(this.at(ref), this.client);
  }

  async openDestination(ref: RepoRef): Promise<ImageDestination> {
    return new RegistryDestination(this.at(ref), this.client);
  }

  referrersApi(subject: Digest): Promise<Descriptor[] | undefined> {
    return this.registries.referrers(this.location, subject);
  }

  hasReferrersApi(): Promise<boolean> {
    return this.registries.hasReferrersApi(this.location);
  }
}
