/**
 * What every repository (transports/types.ts) does the same way on top of its
 * transport's own answers. Its own module so that the transports' repositories
 * build on it without importing the factory that opens them.
 */
import type { Digest } from "../oci/digest.js";
import type { Descriptor, RawManifest } from "../oci/manifest.js";
import { referrersTag } from "../oci/referrer-tags.js";
import type { Location } from "../ref/location.js";
import { findReferrers } from "./referrers.js";
import type { ImageDestination, ImageSource, ReferrerList, ReferrersOptions, Repository, RepoRef, SignalOption, TagHead } from "./types.js";

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

  /** Manifests the store names itself that carry `subject` (a layout's index.json entries); a registry names none. */
  protected storedReferrers(_subject: Digest, _opts?: SignalOption): Promise<Descriptor[]> {
    return Promise.resolve([]);
  }

  referrers(subject: Digest, opts?: ReferrersOptions): Promise<ReferrerList> {
    return findReferrers(
      {
        display: this.display,
        listTags: (o) => this.listTags(o),
        resolve: (tag, o) => this.resolve(tag, o),
        getManifest: (ref, o) => this.getManifest(ref, o),
        referrersApi: (d, o) => this.referrersApi(d, o),
        storedReferrers: (d, o) => this.storedReferrers(d, o),
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
