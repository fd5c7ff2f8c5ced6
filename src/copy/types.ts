import type { RawManifest } from "../oci/manifest.js";
import type { TransferLimits } from "./session.js";
import type { Platform } from "../oci/platform.js";
import type { ManifestFormat } from "./convert.js";
import type { LayerCompression } from "../oci/mediatype.js";

export type { ManifestFormat } from "./convert.js";

/** What happened to one blob. */
export type BlobOutcome = "copied" | "skipped" | "mounted";

/**
 * Progress of a copy, as typed events. The engine emits them through
 * `CopyOptions.onProgress` and never touches a terminal; the CLI renders them
 * (bars, plain lines, JSON). Digests are strings so events serialise as is.
 */
export type CopyEvent =
  /** The source's top manifest was read (and, for a platform subset, the new index built). */
  | { type: "manifest-resolved"; source: string; digest: string; mediaType: string; platforms?: string[] }
  /** The graph is walked: this many distinct blobs of this many bytes (compressed, as stored at the source) may move. */
  | { type: "plan"; images: number; manifests: number; blobs: number; bytes: number }
  /** A notice for the user (e.g. which platform a docker-archive received). */
  | { type: "notice"; message: string }
  /** A blob starts moving (after the destination said it lacks it). */
  | { type: "blob-start"; digest: string; size: number; mediaType: string }
  /** `n` more bytes of a blob were read from the source. */
  | { type: "blob-bytes"; digest: string; n: number }
  /**
   * A blob is at the destination. `size` is the source size; a layer stored
   * converted (`--compress`, zstd decompressed) has `stored`: its digest and
   * size there, and how it changed.
   */
  | { type: "blob-done"; digest: string; size: number; outcome: BlobOutcome; stored?: { digest: string; size: number; change: string } }
  /** A manifest or index was stored. */
  | { type: "manifest-put"; digest: string; mediaType: string; top: boolean }
  /** The destination already held the same manifest under its tag; nothing moved. */
  | { type: "up-to-date"; digest: string }
  | { type: "done"; summary: CopySummary };

export interface CopyOptions extends ConversionOptions {
  /** Only these platforms of an index (a new index holding just them is written). */
  platforms?: Platform[];
  /** Blobs in flight at once (default: a window of WINDOW_BYTES, up to 16 blobs). */
  jobs?: number;
  /** Limits shared with other copies of one run (a sync's images), instead of this copy's own (`jobs`). */
  limits?: TransferLimits;
  /** Cancels the copy; the destination is aborted and an InterruptedError thrown. */
  signal?: AbortSignal;
  onProgress?: (event: CopyEvent) => void;
  /**
   * Called once the image is whole at the destination (every blob and
   * manifest stored, the top one by digest) and before its tag is written:
   * re-signing (`--sign-key`) puts the signature in between, so the tag never
   * names an unsigned image. Not called when the destination is up to date.
   */
  beforeTag?: BeforeTag;
}

/** The hook of CopyOptions.beforeTag: the top manifest as stored (a converted image's new bytes). */
export type BeforeTag = (top: RawManifest) => Promise<void>;

/** What a copy converts (each set field gives new digests). */
export interface ConversionOptions {
  /** Rewrite manifests and indexes into this format (config and layer bytes unchanged). */
  manifestFormat?: ManifestFormat;
  /** Recompress every layer to this (`none`: plain tar). */
  compress?: LayerCompression;
  /** Level for `compress` (gzip 0-9, zstd 1-22). */
  compressLevel?: number;
}

export interface BlobCounts {
  copied: number;
  skipped: number;
  mounted: number;
}

export interface CopySummary {
  source: string;
  destination: string;
  /** Digest of the top manifest as stored at the destination (a new index for a platform subset). */
  digest: string;
  mediaType: string;
  /** Manifests and indexes stored at the destination (0 when up to date). */
  manifests: number;
  blobs: BlobCounts;
  /** Bytes read from the source for blobs that were copied. */
  bytes: number;
  seconds: number;
  /** The destination already held this digest under its tag; nothing was written. */
  upToDate: boolean;
  /** The platforms copied when a subset or a single platform was picked from an index. */
  platforms?: string[];
  /** Set when the engine chose something on the user's behalf (the host platform for a docker-archive), or converted. */
  notice?: string;
  /** The source digest when manifests were converted (the digest above is then new; referrers of this one do not apply). */
  convertedFrom?: string;
  /** The mirror the image was read from (`--registries-conf`), when not the source registry itself. */
  servedBy?: string;
}

/** What one image's transfer reports (per tag of `--all-tags`). */
export interface ImageResult {
  digest: string;
  mediaType: string;
  manifests: number;
  upToDate: boolean;
  platforms?: string[];
  notice?: string;
  convertedFrom?: string;
  /** The mirror this image was read from (`--registries-conf`), when not the source registry itself. */
  servedBy?: string;
}

/** The result of `--all-tags`: one result per tag, in the order listed, plus totals. */
export interface AllTagsSummary {
  source: string;
  destination: string;
  tags: Array<ImageResult & { tag: string }>;
  /** Tags left out because they lack a platform --platform asked for, with why (skip-and-report, as sync does). */
  skipped: Array<{ tag: string; reason: string }>;
  /** Referrer tags (`sha256-<hex>`, `.sig`, `.att`, `.sbom`) not copied as images: --referrers brings them with their subject. */
  referrerTags: string[];
  manifests: number;
  blobs: BlobCounts;
  bytes: number;
  seconds: number;
}
