/**
 * A destination that passes every call to the one it wraps, and hears when
 * the copy ends (commit or abort, whichever way it went): the base of sync's
 * mount wrapper and a mirror archive's space check, which each override what
 * they add.
 */
import type { Readable } from "node:stream";
import type { Digest } from "../oci/digest.js";
import type { Descriptor, RawManifest } from "../oci/manifest.js";
import type { Location } from "../ref/location.js";
import type { BlobReadOptions, DestinationCapabilities, ImageDestination, SignalOption } from "./types.js";

export abstract class WrappedDestination implements ImageDestination {
  readonly capabilities: DestinationCapabilities;

  constructor(
    protected readonly inner: ImageDestination,
    readonly location: Location,
  ) {
    this.capabilities = inner.capabilities;
  }

  /** Called once the wrapped destination committed (`committed` true) or aborted, or either threw. */
  protected abstract ended(committed: boolean): void;

  currentDigest(opts?: SignalOption): Promise<Digest | undefined> {
    return this.inner.currentDigest(opts);
  }

  hasBlob(desc: Descriptor, opts?: SignalOption): Promise<boolean> {
    return this.inner.hasBlob(desc, opts);
  }

  putBlob(desc: Descriptor, data: Readable, opts?: BlobReadOptions): Promise<void> {
    return this.inner.putBlob(desc, data, opts);
  }

  putManifest(m: RawManifest, opts?: { tag?: string; isTop?: boolean; signal?: AbortSignal }): Promise<void> {
    return this.inner.putManifest(m, opts);
  }

  async commit(): Promise<void> {
    let committed = false;
    try {
      await this.inner.commit();
      committed = true;
    } finally {
      this.ended(committed);
    }
  }

  async abort(): Promise<void> {
    try {
      await this.inner.abort();
    } finally {
      this.ended(false);
    }
  }
}
