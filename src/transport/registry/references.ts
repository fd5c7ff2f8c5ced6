import { NotFoundError } from "../../errors.js";
import type { Digest } from "../../oci/digest.js";
import type { RawManifest } from "../../oci/manifest.js";
import type { RegistryLocation } from "../../ref/location.js";
import type { DeleteResult, ReferenceStore, SignalOption } from "../types.js";
import type { RegistryClient } from "./client.js";
import { referenceOf } from "./source.js";

/** How many tags are HEADed at once when looking for the other names of a manifest. */
const HEAD_CONCURRENCY = 8;

/** Tag listing, tagging and deletion in a registry repository. */
export class RegistryReferences implements ReferenceStore {
  /** The location's manifest, fetched on the first addTag: `dray tag LOC t1 t2 t3` costs one GET and a PUT per tag. */
  private source: Promise<RawManifest> | undefined;

  constructor(
    readonly location: RegistryLocation,
    readonly client: RegistryClient,
  ) {}

  private get repo(): string {
    return this.location.ref.path;
  }

  listTags(opts: SignalOption = {}): Promise<string[]> {
    return this.client.listTags(this.repo, undefined, opts.signal);
  }

  /** Puts the location's manifest bytes under another tag: no blob moves. */
  async addTag(tag: string, opts: SignalOption = {}): Promise<void> {
    await this.client.putManifest(this.repo, tag, await this.sourceManifest(opts.signal), opts.signal);
  }

  /** The bytes every new tag gets; a failed fetch is forgotten so a later call may try again. */
  private sourceManifest(signal?: AbortSignal): Promise<RawManifest> {
    if (!this.source) {
      const pending = this.client.getManifest(this.repo, referenceOf(this.location), signal);
      this.source = pending;
      pending.catch(() => {
        if (this.source === pending) this.source = undefined;
      });
    }
    return this.source;
  }

  /**
   * Registries delete manifests by digest, which removes every tag pointing at
   * it: the tag is resolved first, and the other tags that go with it are
   * found (list + HEAD) before the DELETE so the caller can report them.
   */
  async deleteReference(opts: SignalOption = {}): Promise<DeleteResult> {
    const { signal } = opts;
    const { tag, digest: named } = this.location.ref;
    let digest: Digest | undefined = named;
    if (!digest) {
      const ref = referenceOf(this.location);
      digest = (await this.client.headManifest(this.repo, ref, signal))?.digest;
      if (!digest)
        throw new NotFoundError(`not found: manifest ${ref} at docker://${this.location.ref.domain}/${this.repo}`, {
          where: `docker://${this.location.ref.domain}/${this.repo}:${ref}`,
        });
    }
    const alsoRemovedTags = await this.tagsPointingAt(digest, tag, signal);
    await this.client.deleteManifest(this.repo, digest, signal);
    return { digest, alsoRemovedTags, blobsRemoved: 0 };
  }

  private async tagsPointingAt(digest: Digest, except: string | undefined, signal?: AbortSignal): Promise<string[]> {
    let tags: string[];
    try {
      tags = (await this.client.listTags(this.repo, undefined, signal)).filter((t) => t !== except);
    } catch (err) {
      if (err instanceof NotFoundError) return [];
      throw err;
    }
    const found: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < tags.length) {
        const t = tags[next++]!;
        const head = await this.client.headManifest(this.repo, t, signal);
        if (head?.digest.equals(digest)) found.push(t);
      }
    };
    await Promise.all(Array.from({ length: Math.min(HEAD_CONCURRENCY, tags.length) }, worker));
    return found.sort();
  }

  async close(): Promise<void> {
    // Pooled connections stay for the rest of the run.
  }
}
