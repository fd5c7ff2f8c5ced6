import type { Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { IntegrityError } from "../../errors.js";
import type { Digest } from "../../oci/digest.js";
import type { Descriptor, RawManifest } from "../../oci/manifest.js";
import type { Location, RegistryLocation } from "../../ref/location.js";
import type { BlobReadOptions, DestinationCapabilities, ImageDestination, SignalOption } from "../types.js";
import type { RegistryClient } from "./client.js";
import { referenceOf } from "./source.js";
import { OCI_STORE_CAPABILITIES } from "../capabilities.js";
import { defined } from "../../defined.js";

/**
 * Writes images into a registry repository. The tag PUT is the commit: blobs
 * and child manifests land first (the engine's order), the tagged top
 * manifest last, so a reader never sees a tag pointing at missing content.
 */
export class RegistryDestination implements ImageDestination {
  readonly capabilities: DestinationCapabilities = { ...OCI_STORE_CAPABILITIES, supportsMount: true };
  /** Blob presence already learnt (HEAD, upload, mount): saves a round trip per repeated question. */
  private readonly known = new Map<string, boolean>();
  /** Sessions a mount opened instead of mounting (202): the next putBlob of that digest uses them. */
  private readonly sessions = new Map<string, URL>();

  constructor(
    readonly location: RegistryLocation,
    readonly client: RegistryClient,
  ) {
    client.want(this.repo, "push");
  }

  private get repo(): string {
    return this.location.ref.path;
  }

  async currentDigest(opts: SignalOption = {}): Promise<Digest | undefined> {
    return (await this.client.headManifest(this.repo, referenceOf(this.location), opts.signal))?.digest;
  }

  async tagDigest(tag: string, opts: SignalOption = {}): Promise<Digest | undefined> {
    return (await this.client.headManifest(this.repo, tag, opts.signal))?.digest;
  }

  async hasBlob(desc: Descriptor, opts: SignalOption = {}): Promise<boolean> {
    const key = desc.digest.toString();
    const cached = this.known.get(key);
    if (cached !== undefined) return cached;
    const size = await this.client.headBlob(this.repo, desc.digest, opts.signal);
    const present = size !== undefined && (size < 0 || desc.size < 0 || size === desc.size);
    this.known.set(key, present);
    return present;
  }

  /** Mounts from another repository of the same registry; false (upload instead) for anything else. */
  async mountBlob(desc: Descriptor, from: Location, opts: SignalOption = {}): Promise<boolean> {
    if (from.transport !== "docker" || from.ref.domain !== this.location.ref.domain) return false;
    const key = desc.digest.toString();
    if (this.known.get(key) === true) return true;
    if (from.ref.path === this.repo) return this.hasBlob(desc, opts);
    const result = await this.client.mountBlob(this.repo, desc.digest, from.ref.path, opts.signal);
    if (result.mounted) this.known.set(key, true);
    else if (result.session) this.sessions.set(key, result.session);
    return result.mounted;
  }

  async putBlob(desc: Descriptor, data: Readable, opts?: BlobReadOptions): Promise<void> {
    const key = desc.digest.toString();
    // HEAD before upload, unless hasBlob already asked (the engine's usual order): no second round trip.
    if (!this.known.has(key) && !this.sessions.has(key) && (await this.hasBlob(desc, opts))) {
      data.resume();
      await finished(data);
      return;
    }
    const session = this.sessions.get(key);
    this.sessions.delete(key);
    await this.client.putBlob(this.repo, desc, data, defined({ session, signal: opts?.signal }));
    this.known.set(key, true);
  }

  /**
   * By digest, or by `tag`; the top manifest without a tag goes under the
   * location's tag, or, for a location naming a digest, under that digest
   * (which must then be the manifest's own).
   */
  async putManifest(m: RawManifest, opts: { tag?: string; isTop?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    let ref = opts.tag;
    if (ref === undefined && opts.isTop) {
      const wanted = this.location.ref.digest;
      if (wanted && !wanted.equals(m.digest)) {
        throw new IntegrityError(`destination names digest ${wanted}, but the manifest to store is ${m.digest}`, {
          code: "E_DIGEST_MISMATCH",
          where: `docker://${this.location.ref.domain}/${this.repo}`,
        });
      }
      ref = this.location.ref.tag ?? (wanted ? undefined : "latest");
    }
    await this.client.putManifest(this.repo, ref ?? m.digest.toString(), m, opts.signal);
  }

  async commit(): Promise<void> {
    // The tag PUT in putManifest was the commit.
  }

  async abort(): Promise<void> {
    // Sessions a mount opened and nobody used: cancelling frees their temporary files sooner; the registry purges them anyway.
    const open = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(open.map((session) => this.client.cancelUpload(this.repo, session)));
  }
}
