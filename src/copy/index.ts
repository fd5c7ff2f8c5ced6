/**
 * The copy engine: any source to any destination, digests preserved.
 * `copy` opens both locations and owns them; `copyImage` works on peers the
 * caller opened (and still closes).
 */
import { isReferrerTag } from "../oci/referrer-tags.js";
import { parseLocation, formatLocation, type Location } from "../ref/location.js";
import { openDestination, openReferences, openSource, withReplayableInput } from "../transport/index.js";
import type { ImageSource, TransportOptions } from "../transport/types.js";
import { checkAllTagsLocations, copyTags, locationWithTag, noTags } from "./all-tags.js";
import { copyImage } from "./engine.js";
import { checkNotNested } from "./nesting.js";
import type { AllTagsSummary, CopyOptions, CopySummary } from "./types.js";

export { copyImage } from "./engine.js";
export { copyTags, locationWithTag } from "./all-tags.js";
export { createLimiter, type Limiter } from "./limit.js";
export type * from "./types.js";

export interface CopyLocationOptions extends CopyOptions {
  /** How to reach the source (credentials, TLS, retries). */
  source?: TransportOptions;
  /** How to reach the destination. */
  destination?: TransportOptions;
}

function asLocation(loc: Location | string): Location {
  return typeof loc === "string" ? parseLocation(loc) : loc;
}

/**
 * Copies one image (or a whole index) from `src` to `dst`, e.g.
 * `await copy("localhost:5000/app:1", "oci:./app:1")`. Opens both, commits
 * the destination or aborts it on failure, and closes the source.
 */
export async function copy(src: Location | string, dst: Location | string, opts: CopyLocationOptions = {}): Promise<CopySummary> {
  const srcLoc = asLocation(src);
  const dstLoc = asLocation(dst);
  await checkNotNested(srcLoc, dstLoc);
  const source = await openSource(srcLoc, readOptions(opts.source, dstLoc));
  try {
    const destination = await openDestination(dstLoc, opts.destination);
    const summary = await copyImage(source, destination, opts);
    const servedBy = (source as { servedBy?: string }).servedBy;
    return servedBy === undefined ? summary : { ...summary, servedBy };
  } finally {
    await source.close();
  }
}

/** The source's options with the destination kept out of its mirrors: a run never reads what it is writing. */
function readOptions(source: TransportOptions | undefined, dst: Location): TransportOptions | undefined {
  if (dst.transport !== "docker" || (!source?.mirrors && source?.registriesConf === undefined)) return source;
  return { ...source, mirrorExclude: [...(source.mirrorExclude ?? []), dst.ref] };
}

/** Copies every tag of a repository, layout or archive `src` into `dst` (both without a tag). */
export async function copyAllTags(src: Location | string, dst: Location | string, opts: CopyLocationOptions = {}): Promise<AllTagsSummary> {
  const srcLoc = asLocation(src);
  const dstLoc = asLocation(dst);
  checkAllTagsLocations(srcLoc, dstLoc);
  await checkNotNested(srcLoc, dstLoc);
  // Standard input is read once, into a file, then listed and opened per tag like any archive.
  return withReplayableInput(srcLoc, opts.source ?? {}, async (readable) => {
    const refs = await openReferences(readable, opts.source);
    let tags: string[];
    try {
      tags = await refs.listTags(opts.signal ? { signal: opts.signal } : {});
    } finally {
      await refs.close();
    }
    // Referrer tags are no images: they travel with their subject (--referrers), as in sync.
    const referrerTags = tags.filter(isReferrerTag);
    const images = tags.filter((t) => !isReferrerTag(t));
    if (images.length === 0) throw noTags(srcLoc);
    const destination = await openDestination(dstLoc, opts.destination);
    const openTag = (tag: string): Promise<ImageSource> => openSource(locationWithTag(readable, tag), readOptions(opts.source, dstLoc));
    const summary = await copyTags({ tags: images, openSource: openTag, dst: destination }, formatLocation(srcLoc), opts);
    return { ...summary, referrerTags: referrerTags.sort() };
  });
}
