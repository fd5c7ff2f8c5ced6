import { stopwatch } from "../clock.js";
import { NotFoundError, UsageError } from "../errors.js";
import { formatPlatform } from "../oci/platform.js";
import { formatLocation, type Location } from "../ref/location.js";
import { parseReference } from "../ref/reference.js";
import type { ImageDestination, ImageSource } from "../transport/types.js";
import { checkConversion, failSession, transferImage, transferOptions } from "./engine.js";
import { createLimiter } from "./limit.js";
import { CopySession } from "./session.js";
import type { AllTagsSummary, CopyOptions, ImageResult } from "./types.js";
import { defined } from "../defined.js";

/** Images of `--all-tags` in flight at once; their blobs share the session's `--jobs` limit. */
const IMAGES_IN_FLIGHT = 4;

/** The location naming `tag` in the same repository, layout or archive. */
export function locationWithTag(loc: Location, tag: string): Location {
  switch (loc.transport) {
    case "docker": {
      const { digest: _digest, ...ref } = loc.ref;
      return { transport: "docker", ref: { ...ref, tag } };
    }
    case "oci":
    case "oci-archive":
      return { transport: loc.transport, path: loc.path, ref: { kind: "tag", tag } };
    case "docker-archive":
      // A docker-archive lists RepoTags as full NAME:TAG references.
      return { transport: "docker-archive", path: loc.path, ref: parseReference(tag) };
  }
}

/** True when the location names one image (a tag or digest) rather than a whole repository. */
export function namesImage(loc: Location): boolean {
  return loc.transport === "docker" ? loc.ref.tag !== undefined || loc.ref.digest !== undefined : loc.ref !== undefined;
}

export interface AllTagsPeers {
  tags: string[];
  openSource(tag: string): Promise<ImageSource>;
  dst: ImageDestination;
}

/** A tag's image as copied. */
type TagResult = ImageResult & { tag: string };

/** What the images of one `--all-tags` run share. */
interface TagsRun {
  session: CopySession;
  peers: AllTagsPeers;
  opts: CopyOptions;
  /** Tags left out for lacking a platform asked for, with why. */
  skipped: AllTagsSummary["skipped"];
}

/** One tag's image into the run's destination; undefined (and a `skipped` entry) when it lacks a platform asked for. */
async function copyTag({ session, peers, opts, skipped }: TagsRun, tag: string): Promise<TagResult | undefined> {
  const src = await peers.openSource(tag);
  try {
    const result = await transferImage(session, src, transferOptions(opts, tag));
    // A tag read through a mirror names it, as a single copy's summary does.
    const servedBy = (src as { servedBy?: string }).servedBy;
    return { tag, ...result, ...defined({ servedBy }) };
  } catch (err) {
    // A tag without the platform asked for is skipped and reported, as sync does; the others are copied.
    if (!(err instanceof NotFoundError && err.code === "E_PLATFORM_NOT_FOUND")) throw err;
    skipped.push({ tag, reason: err.message });
    return undefined;
  } finally {
    await src.close();
  }
}

/**
 * Copies every tag into one destination, images in parallel (bounded), blobs
 * shared: a layer common to many tags moves once. The destination is
 * committed once at the end, or aborted as a whole on the first failure.
 */
export async function copyTags(peers: AllTagsPeers, source: string, opts: CopyOptions = {}): Promise<AllTagsSummary> {
  const elapsed = stopwatch();
  const { dst } = peers;
  try {
    checkConversion(opts, dst);
  } catch (err) {
    await dst.abort();
    throw err;
  }
  const session = new CopySession(dst, opts);
  const images = createLimiter(IMAGES_IN_FLIGHT, session.signal);
  const run: TagsRun = { session, peers, opts, skipped: [] };
  const { skipped } = run;
  try {
    // Sorted: the output (TAG DIGEST lines) is the same on every run, whatever order the source listed them in.
    const tags = [...peers.tags].sort();
    const all = await Promise.all(tags.map((tag) => session.track(images(() => copyTag(run, tag)))));
    const results = all.filter((r): r is TagResult => r !== undefined);
    session.checkAborted();
    if (results.length === 0) {
      const wanted = (opts.platforms ?? []).map(formatPlatform).join(", ");
      throw new NotFoundError(`no tag of ${source} has ${wanted}`, { code: "E_PLATFORM_NOT_FOUND", where: source });
    }
    skipped.sort((a, b) => (a.tag < b.tag ? -1 : 1));
    await dst.commit();
    const summary: AllTagsSummary = {
      source,
      destination: formatLocation(dst.location),
      tags: results,
      skipped,
      referrerTags: [],
      manifests: session.manifests,
      blobs: { ...session.counts },
      bytes: session.bytes,
      seconds: elapsed(),
    };
    return summary;
  } catch (err) {
    throw await failSession(session, err);
  }
}

/** True when a destination location names one image; a docker-archive's NAME without a tag names the repository its RepoTags go under. */
function destinationNamesImage(loc: Location): boolean {
  if (loc.transport === "docker-archive") return loc.ref?.tag !== undefined || loc.ref?.digest !== undefined;
  return namesImage(loc);
}

/** Checks that `--all-tags` was given a repository (no tag) on both sides. */
export function checkAllTagsLocations(src: Location, dst: Location): void {
  if (namesImage(src)) throw new UsageError(`--all-tags copies a whole repository: give ${formatLocation(src)} without a tag or digest`);
  if (destinationNamesImage(dst))
    throw new UsageError(`--all-tags keeps the source's tags: give ${formatLocation(dst)} without a tag or digest`);
  // A docker-archive stores NAME:TAG references (docker save IMG:a IMG:b); bare tags need the NAME. A
  // docker-archive source lists full NAME:TAG already.
  if (dst.transport === "docker-archive" && dst.ref === undefined && src.transport !== "docker-archive") {
    throw new UsageError(`--all-tags into a docker-archive needs a repository for its RepoTags: ${formatLocation(dst)}:NAME`);
  }
}

export function noTags(src: Location): NotFoundError {
  const where = formatLocation(src);
  return new NotFoundError(`no tags in ${where}`, { where });
}
