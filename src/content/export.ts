import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import * as tar from "tar-stream";
import type { Platform } from "../oci/platform.js";
import type { Location } from "../ref/location.js";
import { openSource } from "../transport/index.js";
import type { TransportOptions } from "../transport/types.js";
import { imageLayers, type TarHeader } from "./layers.js";
import { walkMerged, type MergedEntry } from "./merge.js";
import { defined } from "../defined.js";

export interface ContentOptions {
  /** Picks one image of an index (else this machine's platform). */
  platform?: Platform;
  transport?: TransportOptions;
  signal?: AbortSignal;
  /** Told about entries left out (dangling hard links). */
  notice?: (message: string) => void;
}

/** PAX records that name the entry: dray writes its own, normalised, names and sizes. */
const NAMING_PAX_KEYS = new Set(["path", "linkpath", "size"]);

function outputPax(pax: Record<string, string> | null | undefined): Record<string, string> | undefined {
  if (!pax) return undefined;
  const kept = Object.entries(pax).filter(([k]) => !NAMING_PAX_KEYS.has(k));
  return kept.length > 0 ? Object.fromEntries(kept) : undefined;
}

/**
 * tar-stream replaces a mode of 0 by 0644 (`if (!header.mode)`), and a file
 * of mode 000 (RHEL's /etc/shadow) must stay 000: a bit above the 07777 it
 * writes keeps the value non-zero without changing what is written.
 */
const MODE_NOT_ZERO = 0o100000;

/** The header dray writes for a merged entry: the layer's attributes under the normalised name. */
export function outputHeader(e: MergedEntry): tar.Header & { pax?: Record<string, string> } {
  const h: TarHeader = e.header;
  const isDir = h.type === "directory";
  const type = e.linkTarget !== undefined ? "link" : h.type === "contiguous-file" ? "file" : (h.type ?? "file");
  const pax = outputPax(h.pax);
  return {
    name: isDir ? `${e.path}/` : e.path,
    type,
    size: e.body ? h.size : 0,
    mode: (h.mode ?? 0o644) | MODE_NOT_ZERO,
    mtime: h.mtime,
    uid: h.uid,
    gid: h.gid,
    uname: h.uname,
    gname: h.gname,
    devmajor: h.devmajor,
    devminor: h.devminor,
    linkname: e.linkTarget ?? (type === "symlink" ? h.linkname : ""),
    ...defined({ pax }),
  };
}

async function writeEntry(pack: tar.Pack, e: MergedEntry): Promise<void> {
  const header = outputHeader(e);
  const body = e.body;
  await new Promise<void>((resolve, reject) => {
    const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    if (body) pipeline(body, sink).catch(reject);
    else sink.end(undefined);
  });
}

/**
 * The merged root filesystem of the image `loc` names, as one tar stream:
 * whiteouts applied, no `.wh.` entry, every name normalised inside the root
 * (a name that would leave it fails the stream with E_UNSAFE_INPUT). The
 * stream errors on any failure (digest mismatch, refused layer, network), so
 * a consumer that commits only at its end never keeps a partial tar.
 */
export function exportFilesystem(loc: Location, opts: ContentOptions = {}): Readable {
  const pack = tar.pack();
  const out = new PassThrough({ highWaterMark: 256 * 1024 });
  const run = async (): Promise<void> => {
    const source = await openSource(loc, opts.transport ?? {});
    try {
      const { layers } = await imageLayers(source, opts.platform, opts.signal);
      // The walk goes from the top layer down, so a lower layer's file can land in a folder whose entry was
      // already written, after an extractor applied that folder's time (GNU tar does so as soon as an entry
      // outside the folder follows): folder entries are held (headers only) and written last, parents first,
      // when nothing more is written into them. Their files create them, as tar and umoci do for a missing parent.
      const folders: MergedEntry[] = [];
      const entry = async (e: MergedEntry): Promise<void> => {
        if (e.header.type === "directory") folders.push(e);
        else await writeEntry(pack, e);
      };
      await walkMerged(source, layers, { entry, ...defined({ notice: opts.notice }) }, opts.signal);
      folders.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
      for (const f of folders) await writeEntry(pack, f);
      pack.finalize();
    } finally {
      await source.close();
    }
  };
  pipeline(pack, out).catch((err: unknown) => out.destroy(err as Error));
  run().catch((err: unknown) => {
    pack.destroy(err as Error);
    out.destroy(err as Error);
  });
  return out;
}
