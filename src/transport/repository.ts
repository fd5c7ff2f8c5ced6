/**
 * Repositories (the optional face of transports/types.ts) for sync and
 * referrer copying: a registry repository (`docker://host/repo`) or an OCI
 * layout directory (`oci:DIR`). Archives have none: a mirror keeps images
 * where tags and referrers can be asked about one at a time.
 */
import { UnsupportedError } from "../errors.js";
import type { Digest } from "../oci/digest.js";
import type { RawManifest } from "../oci/manifest.js";
import { referrersTag } from "../oci/referrer-tags.js";
import { formatLocation, type Location } from "../ref/location.js";
import type { Descriptor } from "../oci/manifest.js";
import { findReferrers } from "./referrers.js";
import type {
  ImageDestination,
  ImageSource,
  ReferrerList,
  ReferrersOptions,
  Repository,
  RepoRef,
  SignalOption,
  TagHead,
  TransportOptions,
} from "./types.js";

/** What every repository does the same way on top of its transport's own answers: referrers, the tag schema's index. */
export abstract class RepositoryBase implements Repository {
  abstract readonly location: Location;
  abstract readonly display: string;
  abstract prepare(): Promise<void>;
  abstract listTags(opts?: SignalOption): Promise<string[]>;
  abstract resolve(tag: string, opts?: SignalOption): Promise<TagHead | undefined>;
  abstract hasManifest(digest: Digest, opts?: SignalOption): Promise<boolean>;
  abstract getManifest(ref: string | Digest, opts?: SignalOption): Promise<RawManifest>;
  abstract at(ref: RepoRef): Location;
  abstract openSource(ref: RepoRef): Promise<ImageSource>;
  abstract openDestination(ref: RepoRef): Promise<ImageDestination>;
  abstract hasReferrersApi(subject: Digest, opts?: SignalOption): Promise<boolean>;
  abstract removeTag(tag: string, opts?: SignalOption): Promise<Digest | undefined>;
  /** The referrers API's list for `subject`, or undefined when the store has none (a layout; distribution 2.8). */
  protected abstract referrersApi(subject: Digest, opts?: SignalOption): Promise<Descriptor[] | undefined>;

  referrers(subject: Digest, opts?: ReferrersOptions): Promise<ReferrerList> {
    return findReferrers(
      {
        display: this.display,
        listTags: (o) => this.listTags(o),
        resolve: (tag, o) => this.resolve(tag, o),
        getManifest: (ref, o) => this.getManifest(ref, o),
        referrersApi: (d, o) => this.referrersApi(d, o),
      },
      subject,
      opts,
    );
  }

  /** The tag PUT, or a layout's index.json entry, committed at once. */
  async putReferrersIndex(subject: Digest, index: RawManifest, opts: SignalOption = {}): Promise<void> {
    const dest = await this.openDestination({ tag: referrersTag(subject) });
    try {
      await dest.putManifest(index, { isTop: true, ...opts });
      await dest.commit();
    } catch (err) {
      await dest.abort().catch(() => undefined);
      throw err;
    }
  }
}

/**
 * Shared by the repositories of one side of a run: one registry client per
 * registry (and its credentials), and what each registry answered about the
 * referrers API, so it is asked once.
 */
export class RepositoryFactory {
  private registries: import("./registry/repository.js").RegistryRepositories | undefined;

  /** `options(loc)` gives the TransportOptions for a location (credentials per registry). */
  constructor(readonly options: (loc: Location) => TransportOptions = () => ({})) {}

  /** The repository `loc` names (a tag or digest in `loc` is ignored). */
  async open(loc: Location): Promise<Repository> {
    switch (loc.transport) {
      case "docker":
        return (await this.registriesOf()).open(loc);
      case "oci": {
        const { LayoutRepository } = await import("./layout/repository.js");
        return new LayoutRepository({ transport: "oci", path: loc.path }, this.options(loc));
      }
      default:
        throw new UnsupportedError(
          `${formatLocation(loc)}: sync and referrers work with registries and OCI layouts (oci:DIR), not archives`,
        );
    }
  }

  /** Every repository of a registry (`/v2/_catalog`), through the client its repositories share. */
  async catalog(domain: string, opts: SignalOption = {}): Promise<string[]> {
    return (await this.registriesOf()).catalog(domain, opts.signal);
  }

  private async registriesOf(): Promise<import("./registry/repository.js").RegistryRepositories> {
    if (!this.registries) {
      const { RegistryRepositories } = await import("./registry/repository.js");
      this.registries ??= new RegistryRepositories(this.options);
    }
    return this.registries;
  }
}
