import type { Location, RegistryLocation } from "../ref/location.js";
import type { LocalKind } from "./local-kind.js";
import type { Credentials, ImageDestination, ImageSource, ReferenceStore, TransportOptions } from "./types.js";

/**
 * Opens any location as a source, destination or reference store. Each
 * transport is imported only when a location needs it, so a command that
 * touches a layout never loads the HTTP client, and `dray --version` none.
 */

export async function openSource(loc: Location, opts: TransportOptions = {}): Promise<ImageSource> {
  switch (loc.transport) {
    case "docker":
      return openRegistryRead(loc, opts);
    case "oci":
      return (await import("./layout/index.js")).openLayoutSource(loc, opts);
    case "oci-archive":
      return (await import("./archive/index.js")).openOciArchiveSource(loc, opts);
    case "docker-archive":
      return (await import("./archive/index.js")).openDockerArchiveSource(loc, opts);
  }
}

/** A registry read, through the mirrors of `opts.mirrors` when any may serve it (mirrors.ts). */
async function openRegistryRead(loc: RegistryLocation, opts: TransportOptions): Promise<ImageSource> {
  const { openRegistrySource } = await import("./registry/index.js");
  if (!opts.mirrors && opts.registriesConf === undefined) return openRegistrySource(loc, opts);
  const { openThroughMirrors } = await import("./mirrors.js");
  return (await openThroughMirrors(loc, opts, openRegistrySource)) ?? openRegistrySource(loc, opts);
}

export async function openDestination(loc: Location, opts: TransportOptions = {}): Promise<ImageDestination> {
  switch (loc.transport) {
    case "docker":
      return (await import("./registry/index.js")).openRegistryDestination(loc, opts);
    case "oci":
      return (await import("./layout/index.js")).openLayoutDestination(loc, opts);
    case "oci-archive":
      return (await import("./archive/index.js")).openOciArchiveDestination(loc, opts);
    case "docker-archive":
      return (await import("./archive/index.js")).openDockerArchiveDestination(loc, opts);
  }
}

/**
 * An archive on standard input can be read once; commands that open it
 * several times (`--all-tags`: the tag list, then each tag) get it saved to
 * a temporary file first, and its location rewritten to that file. `fn`'s
 * location is the file; the file is removed when `fn` settles.
 */
export async function withReplayableInput<T>(loc: Location, opts: TransportOptions, fn: (loc: Location) => Promise<T>): Promise<T> {
  if ((loc.transport !== "oci-archive" && loc.transport !== "docker-archive") || loc.path !== "-") return fn(loc);
  const { spoolInput } = await import("./archive/staging.js");
  const spooled = await spoolInput(opts.stdin, opts);
  try {
    return await fn({ ...loc, path: spooled.file });
  } finally {
    await spooled.cleanup();
  }
}

export async function openReferences(loc: Location, opts: TransportOptions = {}): Promise<ReferenceStore> {
  switch (loc.transport) {
    case "docker":
      return (await import("./registry/index.js")).openRegistryReferences(loc, opts);
    case "oci":
      return (await import("./layout/index.js")).openLayoutReferences(loc, opts);
    case "oci-archive":
      return (await import("./archive/index.js")).openOciArchiveReferences(loc, opts);
    case "docker-archive":
      return (await import("./archive/index.js")).openDockerArchiveReferences(loc, opts);
  }
}

/** Repositories of a registry (`dray ls --catalog HOST`). */
export async function listCatalog(domain: string, opts: TransportOptions = {}, signal?: AbortSignal): Promise<string[]> {
  return (await import("./registry/index.js")).listCatalog(domain, opts, signal);
}

/**
 * Checks `creds` against the registry `host` (`dray login`); AuthError (exit 4)
 * when they are refused, naming the credential by `source`, never the secret.
 * "open" when the registry answers anonymously (its `/v2/` is 200 without a
 * challenge): it asks no credentials, and there is nothing to store.
 */
export async function verifyCredentials(
  host: string,
  creds: Credentials,
  opts: TransportOptions,
  source?: string,
  signal?: AbortSignal,
): Promise<"checked" | "open"> {
  return (await import("./registry/index.js")).verifyCredentials(host, creds, opts, source, signal);
}

/** What a registry announces about its rate limit for a repository (`dray ratelimit`): one manifest HEAD. */
export async function registryRateLimit(
  loc: RegistryLocation,
  opts: TransportOptions,
  signal?: AbortSignal,
): Promise<import("./registry/index.js").RateLimitReport> {
  return (await import("./registry/index.js")).rateLimitOf(loc, opts, signal);
}

export { describeRateLimit, lastRateLimit, onRateLimit, type RateLimitInfo } from "./registry/ratelimit.js";
export { MirrorArchive, splitRefName, type MirrorArchives } from "./archive/mirror.js";
export type { RateLimitReport } from "./registry/index.js";
export type { LocalKind };

/** What a local path holds (an OCI layout, an archive of either kind, another file or folder), or undefined when nothing is there. */
export async function localKind(path: string): Promise<LocalKind | undefined> {
  return (await import("./local-kind.js")).localKind(path);
}
