/**
 * Blobs shared by several repositories move once per destination registry.
 * The copy engine mounts a blob when source and destination are the same
 * registry; across registries it would upload the blob again for every
 * repository. A MountLedger remembers, per destination registry, which
 * repository holds each blob (uploaded, or found by a HEAD), and the
 * destination wrapper turns the engine's mount question into a mount from
 * that repository. A blob being uploaded to one repository makes the others
 * wait for it and mount, rather than upload it in parallel.
 *
 * Built on the ImageDestination contract alone (mountBlob is asked before a
 * blob moves, putBlob stores it), so the engine needs no hook for it.
 */
import type { Readable } from "node:stream";
import type { Digest } from "../oci/digest.js";
import type { Descriptor } from "../oci/manifest.js";
import type { Location, RegistryLocation } from "../ref/location.js";
import type { BlobReadOptions, ImageDestination, SignalOption } from "../transport/types.js";
import { WrappedDestination } from "./wrapped-destination.js";

interface Claim {
  promise: Promise<string | undefined>;
  settle(repo: string | undefined): void;
}

function claim(): Claim {
  let settle!: (repo: string | undefined) => void;
  const promise = new Promise<string | undefined>((resolve) => (settle = resolve));
  return { promise, settle };
}

export class MountLedger {
  /** `domain digest` → a repository of that registry known to hold the blob. */
  private readonly holders = new Map<string, string>();
  /** `domain digest` → the upload in progress; settles with its repository, or undefined if it failed. */
  private readonly uploads = new Map<string, Claim>();
  /** Blobs mounted from a repository the ledger named (for the summary and tests). */
  mounts = 0;

  private key(domain: string, digest: Digest): string {
    return `${domain} ${digest}`;
  }

  holder(domain: string, digest: Digest): string | undefined {
    return this.holders.get(this.key(domain, digest));
  }

  record(domain: string, digest: Digest, repo: string): void {
    const k = this.key(domain, digest);
    if (!this.holders.has(k)) this.holders.set(k, repo);
  }

  /** The upload of this blob elsewhere, if one is running. */
  pending(domain: string, digest: Digest): Promise<string | undefined> | undefined {
    return this.uploads.get(this.key(domain, digest))?.promise;
  }

  /** Marks this blob as being uploaded by the caller; undefined when someone else already is. */
  claim(domain: string, digest: Digest): Claim | undefined {
    const k = this.key(domain, digest);
    if (this.uploads.has(k)) return undefined;
    const c = claim();
    this.uploads.set(k, c);
    void c.promise.then(() => this.uploads.delete(k));
    return c;
  }

  /** Wraps a registry destination; any other destination is returned as it is. */
  wrap(dst: ImageDestination): ImageDestination {
    if (dst.location.transport !== "docker" || !dst.capabilities.supportsMount || !dst.mountBlob) return dst;
    return new LedgerDestination(dst, dst.location, this);
  }
}

class LedgerDestination extends WrappedDestination {
  /** Uploads this destination claimed: settled when they land, or when it commits or aborts. */
  private readonly claims = new Map<string, Claim>();

  constructor(
    inner: ImageDestination,
    override readonly location: RegistryLocation,
    private readonly ledger: MountLedger,
  ) {
    super(inner, location);
  }

  private get domain(): string {
    return this.location.ref.domain;
  }

  private get repo(): string {
    return this.location.ref.path;
  }

  override async hasBlob(desc: Descriptor, opts?: SignalOption): Promise<boolean> {
    const has = await this.inner.hasBlob(desc, opts);
    if (has) this.ledger.record(this.domain, desc.digest, this.repo);
    return has;
  }

  async mountBlob(desc: Descriptor, from: Location, opts?: SignalOption): Promise<boolean> {
    const mount = (d: Descriptor, at: Location): Promise<boolean> => this.inner.mountBlob!(d, at, opts);
    // Same registry as the source: the engine's own mount from the source repository.
    if (from.transport === "docker" && from.ref.domain === this.domain && (await mount(desc, from))) return true;
    let holder = this.ledger.holder(this.domain, desc.digest);
    if (holder === undefined) {
      const running = this.ledger.pending(this.domain, desc.digest);
      if (running) holder = await running;
      // Another image of this same repository just uploaded it: a second upload
      // of the same blob would race it (distribution 2.8 can then reject the manifest).
      if (running && holder === this.repo) return true;
    }
    if (holder !== undefined && holder !== this.repo) {
      const at: RegistryLocation = { transport: "docker", ref: { domain: this.domain, path: holder } };
      if (await mount(desc, at)) {
        this.ledger.mounts++;
        this.ledger.record(this.domain, desc.digest, this.repo);
        return true;
      }
    }
    const mine = this.ledger.claim(this.domain, desc.digest);
    if (mine) this.claims.set(desc.digest.toString(), mine);
    return false;
  }

  override async putBlob(desc: Descriptor, data: Readable, opts?: BlobReadOptions): Promise<void> {
    const key = desc.digest.toString();
    try {
      await this.inner.putBlob(desc, data, opts);
    } catch (err) {
      this.settle(key, undefined);
      throw err;
    }
    this.ledger.record(this.domain, desc.digest, this.repo);
    this.settle(key, this.repo);
  }

  protected ended(): void {
    this.settleAll();
  }

  private settle(key: string, repo: string | undefined): void {
    const c = this.claims.get(key);
    this.claims.delete(key);
    c?.settle(repo);
  }

  /** Nobody may wait forever on an upload this destination will not make. */
  private settleAll(): void {
    for (const key of [...this.claims.keys()]) this.settle(key, undefined);
  }
}
