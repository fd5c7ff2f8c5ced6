/**
 * The location forms `dray sync` reads, on the command line and in the YAML
 * file, and how a repository's name is placed under a destination prefix.
 * Beyond the usual locations: a bare registry (`HOST[:PORT]`, every
 * repository it lists or the ones named), and `oci:DIR` as a folder of
 * layouts, one per repository.
 */
import { join } from "node:path";
import { UsageError } from "../errors.js";
import { formatLocation, parseLocation, type Location } from "../ref/location.js";
import { parseReference, quote } from "../ref/reference.js";
import { archiveRepository } from "./archive.js";
import type { SyncSource, SyncTarget } from "./types.js";
import { defined } from "../defined.js";

const REGISTRY_ONLY_RE = /^(?:docker:\/\/)?((?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?)\/?$/;

/** `HOST[:PORT]` (with an optional `docker://` and trailing slash) naming a registry, not a repository. */
export function registryOnly(text: string): string | undefined {
  const m = REGISTRY_ONLY_RE.exec(text);
  if (!m) return undefined;
  const host = m[1]!;
  // Docker's rule: a first component is a host when it has a dot or a port, or is localhost; `alpine` is a repository.
  const looksLikeHost = host.includes(".") || host.includes(":") || host === "localhost" || host.startsWith("[");
  if (!looksLikeHost) return undefined;
  parseReference(`${host}/probe`); // checks the host grammar (port range, IPv6)
  return host;
}

export interface ParsedSource {
  source: SyncSource;
  /** A tag or digest written in the location: take only that. */
  tag?: string;
}

/** A sync source: a registry, a repository (optionally with one tag), or `oci:DIR`. */
export function parseSyncSource(text: string, repositories?: string[]): ParsedSource {
  const host = registryOnly(text);
  if (host !== undefined) return { source: { kind: "registry", domain: host, ...defined({ repositories }) } };
  const loc = parseLocation(text);
  if (loc.transport === "oci") {
    const tag = loc.ref?.kind === "tag" ? loc.ref.tag : undefined;
    if (loc.ref?.kind === "digest") throw new UsageError(`sync takes tags: ${quote(text)} names a digest`);
    const source: SyncSource = repositories
      ? { kind: "layouts", path: loc.path, repositories }
      : { kind: "repository", location: { transport: "oci", path: loc.path } };
    return { source, ...(tag ? { tag } : {}) };
  }
  if (loc.transport === "oci-archive") {
    if (loc.ref)
      throw new UsageError(
        `a mirror archive is read whole: give ${quote(`oci-archive:${loc.path}`)} without a reference (and "repositories" to take some)`,
      );
    return { source: { kind: "archive", path: loc.path, ...defined({ repositories }) } };
  }
  if (loc.transport !== "docker")
    throw new UsageError(
      `sync works with registries, OCI layouts (oci:DIR) and mirror archives (oci-archive:FILE), not ${formatLocation(loc)}`,
    );
  if (repositories)
    throw new UsageError(`"repositories" goes with a registry (HOST[:PORT]) or oci:DIR, not the repository ${formatLocation(loc)}`);
  if (loc.ref.digest) throw new UsageError(`sync takes tags: ${quote(text)} names a digest`);
  const { tag, ...ref } = loc.ref;
  // parseReference gives no tag unless one was written.
  return { source: { kind: "repository", location: { transport: "docker", ref } }, ...(tag ? { tag } : {}) };
}

/**
 * A sync destination. `exact`: the location is the repository itself (the
 * command line's `dray sync SRC-REPO DST-REPO`); else a prefix under which
 * each source repository's path is placed.
 */
export function parseSyncTarget(text: string, exact: boolean): SyncTarget {
  const host = registryOnly(text);
  if (host !== undefined) {
    if (exact) throw new UsageError(`${quote(text)} names a registry; give the destination repository (HOST/REPO)`);
    return { kind: "prefix", location: { transport: "docker", ref: { domain: host, path: "" } } };
  }
  const loc = parseLocation(text);
  if (loc.transport === "oci") {
    if (loc.ref) throw new UsageError(`a sync destination keeps the source's tags: give ${quote(`oci:${loc.path}`)} without a tag`);
    return { kind: exact ? "repository" : "prefix", location: { transport: "oci", path: loc.path } };
  }
  if (loc.transport === "oci-archive") {
    if (loc.ref)
      throw new UsageError(
        `a mirror archive names its images REPO:TAG itself: give ${quote(`oci-archive:${loc.path}`)} without a reference`,
      );
    // Always a prefix: even one repository goes in under its own name.
    return { kind: "prefix", location: { transport: "oci-archive", path: loc.path } };
  }
  if (loc.transport !== "docker")
    throw new UsageError(
      `sync writes to registries, OCI layouts (oci:DIR) and mirror archives (oci-archive:FILE), not ${formatLocation(loc)}`,
    );
  if (loc.ref.tag !== undefined || loc.ref.digest !== undefined) {
    throw new UsageError(`a sync destination keeps the source's tags: give ${quote(text)} without a tag or digest`);
  }
  return { kind: exact ? "repository" : "prefix", location: { transport: "docker", ref: { domain: loc.ref.domain, path: loc.ref.path } } };
}

/** The destination for the source repository `repoPath` under `prefix`. */
export function underPrefix(prefix: Location, repoPath: string): Location {
  if (prefix.transport === "docker") {
    const path = prefix.ref.path === "" ? repoPath : `${prefix.ref.path}/${repoPath}`;
    // Through the parser, so a layout folder's name that is no valid repository name is refused here.
    const ref = parseReference(`${prefix.ref.domain}/${path}`);
    return { transport: "docker", ref: { domain: ref.domain, path: ref.path } };
  }
  if (prefix.transport === "oci") {
    if (repoPath.split("/").some((c) => c === "" || c === "." || c === ".."))
      throw new UsageError(`repository path ${quote(repoPath)} cannot be a folder name`);
    return { transport: "oci", path: join(prefix.path, ...repoPath.split("/")) };
  }
  if (prefix.transport === "oci-archive") return archiveRepository(prefix.path, repoPath);
  throw new UsageError(`sync writes to registries and OCI layouts, not ${formatLocation(prefix)}`);
}

/** The name under which a source repository is placed below a destination prefix. */
export function repositoryPath(loc: Location): string {
  if (loc.transport === "docker") return loc.ref.path;
  if (loc.transport === "oci-archive" && loc.ref?.kind === "tag") return loc.ref.tag;
  // A lone layout is named after its folder.
  const parts = loc.path.split(/[\\/]+/).filter((p) => p !== "" && p !== ".");
  return (parts.at(-1) ?? "image").toLowerCase();
}

export function displayTarget(t: SyncTarget): string {
  const loc = t.location;
  if (loc.transport === "docker" && loc.ref.path === "") return `docker://${loc.ref.domain}`;
  return formatLocation(loc);
}
