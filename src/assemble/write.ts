// Writing an assembled image: the composed source goes through the copy
// engine into the destination, so blobs the destination has are skipped,
// blobs of the same registry mounted, children put before their index and
// the tag last, and a failure leaves the destination as it was.
import { copyImage } from "../copy/index.js";
import { checkNotNested } from "../copy/nesting.js";
import type { CopyEvent, CopySummary } from "../copy/types.js";
import { UsageError } from "../errors.js";
import { formatLocation, parseLocation, type Location } from "../ref/location.js";
import { openDestination, openSource } from "../transport/index.js";
import type { ImageSource, TransportOptions } from "../transport/types.js";
import type { ComposedSource } from "./source.js";
import { defined } from "../defined.js";

/** What every assembling command takes beside its own options. */
export interface AssembleOptions {
  /** How to reach the sources (credentials, TLS, retries). */
  source?: TransportOptions;
  /** How to reach the destination (also when it is read, as by `index append`). */
  destination?: TransportOptions;
  /** Blobs in flight at once (as `copy --jobs`). */
  jobs?: number;
  signal?: AbortSignal;
  onProgress?: (event: CopyEvent) => void;
}

export function asLocation(loc: Location | string): Location {
  return typeof loc === "string" ? parseLocation(loc) : loc;
}

/**
 * A destination that can name a new image: not a digest (the new image's
 * digest is not known to the user), a store that holds an index when
 * `index` is true (a docker-archive holds one image), and not inside (nor
 * around) a source layout's folder, as copy refuses (checkNotNested).
 */
export async function checkDestination(dst: Location, index: boolean, command: string, sources: readonly Location[]): Promise<void> {
  if (dst.transport === "docker" && dst.ref.digest)
    throw new UsageError(`${command}: the destination ${formatLocation(dst)} names a digest; give a tag (the result has a new digest)`);
  if ((dst.transport === "oci" || dst.transport === "oci-archive") && dst.ref?.kind === "digest")
    throw new UsageError(`${command}: the destination ${formatLocation(dst)} names a digest; give a tag (the result has a new digest)`);
  if (index && dst.transport === "docker-archive")
    throw new UsageError(
      `${command}: ${formatLocation(dst)} holds a single image, not an index; write to a registry, oci: or oci-archive:`,
    );
  if ((dst.transport === "oci-archive" || dst.transport === "docker-archive") && dst.path === "-")
    throw new UsageError(`${command}: an archive on standard output cannot be read back; give a file`);
  for (const src of sources) await checkNotNested(src, dst);
}

/** Opens every location as a source; closes those already open when one fails. */
export async function openSources(locs: readonly Location[], opts: TransportOptions | undefined): Promise<ImageSource[]> {
  const out: ImageSource[] = [];
  try {
    for (const loc of locs) out.push(await openSource(loc, opts));
    return out;
  } catch (err) {
    await closeAll(out);
    throw err;
  }
}

export async function closeAll(sources: readonly ImageSource[]): Promise<void> {
  await Promise.allSettled(sources.map((s) => s.close()));
}

/** Copies the composed image into `dst` (committed, or aborted on failure). */
export async function writeComposed(composed: ComposedSource, dst: Location, opts: AssembleOptions): Promise<CopySummary> {
  const destination = await openDestination(dst, opts.destination);
  return copyImage(composed, destination, {
    ...defined({ signal: opts.signal, jobs: opts.jobs, onProgress: opts.onProgress }),
  });
}
