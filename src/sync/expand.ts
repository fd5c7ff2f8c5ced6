/**
 * Turns the rules into repository pairs: a registry's catalog or named
 * repositories, a folder of OCI layouts walked for its `oci-layout` files,
 * each placed under the destination prefix.
 */
import { readdir, stat } from "node:fs/promises";
import { join, relative, resolve, sep } from "node:path";
import { NotFoundError, UsageError } from "../errors.js";
import { formatLocation, type Location } from "../ref/location.js";
import type { RepositoryFactory } from "../transport/repository.js";
import { archiveRepository, type MirrorArchives } from "./archive.js";
import { displayTarget, repositoryPath, underPrefix } from "./locations.js";
import type { SyncRule } from "./types.js";

export interface RepositoryPair {
  rule: SyncRule;
  /** The repository's name (`team/app`): the same on every runner, what shards hash. */
  name: string;
  source: Location;
  destination: Location;
}

export interface Expansion {
  pairs: RepositoryPair[];
  /** Rules whose repositories could not be listed (the catalog failed, the folder is missing). */
  failures: Array<{ rule: SyncRule; source: string; destination: string; error: unknown }>;
}

/** Deep enough for any real repository path; a deeper tree is not a mirror. */
const MAX_DEPTH = 12;

async function isLayout(dir: string): Promise<boolean> {
  try {
    return (await stat(join(dir, "oci-layout"))).isFile();
  } catch {
    return false;
  }
}

/** Repository paths (`team/app`) of the layouts below `root`, sorted. */
export async function findLayouts(root: string): Promise<string[]> {
  let st;
  try {
    st = await stat(root);
  } catch {
    throw new NotFoundError(`no folder of OCI layouts at ${root}`, { where: root });
  }
  if (!st.isDirectory()) throw new UsageError(`${root} is not a directory`, { code: "E_LOCATION_INVALID" });
  const found: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    const layout = await isLayout(dir);
    if (layout) found.push(relative(root, dir).split(sep).join("/"));
    if (depth >= MAX_DEPTH) return;
    const entries = await readdir(dir, { withFileTypes: true });
    // A layout's blobs/ holds no repositories, but another folder in it may be a layout (`dray copy`
    // and skopeo write oci:DIR/team/app into the layout DIR/team): listed, so that sync copies it or
    // refuses the pair up front instead of dropping it without a word.
    const sub = entries.filter((e) => e.isDirectory() && !e.name.startsWith(".") && !(layout && e.name === "blobs"));
    await Promise.all(sub.map((e) => walk(join(dir, e.name), depth + 1)));
  };
  await walk(root, 0);
  return found.filter((p) => p !== "").sort();
}

/**
 * The repositories of a folder of layouts, as a sync into `oci:DIR` leaves
 * it (`dray ls oci:DIR`); undefined when `dir` is a layout itself, is not a
 * folder, or holds no layout (its own error then says what it is).
 */
export async function layoutsInFolder(dir: string): Promise<string[] | undefined> {
  const st = await stat(dir).catch(() => undefined);
  if (!st?.isDirectory() || (await isLayout(dir))) return undefined;
  const found = await findLayouts(dir);
  return found.length > 0 ? found : undefined;
}

function target(rule: SyncRule, repoPath: string): Location {
  const t = rule.destination;
  return t.kind === "repository" ? t.location : underPrefix(t.location, repoPath);
}

function setOnly(rule: SyncRule, what: string): void {
  if (rule.destination.kind === "repository") {
    throw new UsageError(`${what} holds several repositories: its destination is a prefix (HOST[/PREFIX] or oci:DIR), not one repository`);
  }
}

async function expandRule(
  rule: SyncRule,
  sources: RepositoryFactory,
  archives: MirrorArchives,
  signal?: AbortSignal,
): Promise<RepositoryPair[]> {
  const src = rule.source;
  const pair = (source: Location, repoPath: string): RepositoryPair => ({
    rule,
    name: repoPath,
    source,
    destination: target(rule, repoPath),
  });
  switch (src.kind) {
    case "repository": {
      if (src.location.transport === "oci" && !(await isLayout(src.location.path))) {
        // Not a layout itself: a folder of layouts, as a sync into oci:DIR leaves it.
        return expandRule({ ...rule, source: { kind: "layouts", path: src.location.path } }, sources, archives, signal);
      }
      return [pair(src.location, repositoryPath(src.location))];
    }
    case "registry": {
      setOnly(rule, `registry ${src.domain}`);
      const names = src.repositories ?? nonEmpty(await sources.catalog(src.domain, signal ? { signal } : {}), rule);
      return names.map((name) => pair({ transport: "docker", ref: { domain: src.domain, path: name } }, name));
    }
    case "layouts": {
      setOnly(rule, `oci:${src.path}`);
      const names = src.repositories ?? nonEmpty(await findLayouts(src.path), rule);
      return names.map((name) => pair({ transport: "oci", path: join(src.path, ...name.split("/")) }, name));
    }
    case "archive": {
      setOnly(rule, `oci-archive:${src.path}`);
      const archive = archives.get(src.path);
      if (!archive) throw new NotFoundError(`oci-archive:${src.path} does not exist`, { where: src.path });
      const names = src.repositories ?? nonEmpty(await archive.repositories(), rule);
      return names.map((name) => pair(archiveRepository(src.path, name), name));
    }
  }
}

/**
 * A source that holds no repository is a mistake more often than a mirror of
 * nothing (a wrong path, an archive that was never written): not found, as
 * `dray ls` of it says, rather than "Synced 0 repositories" and exit 0.
 */
function nonEmpty(names: string[], rule: SyncRule): string[] {
  if (names.length === 0) throw new NotFoundError(`${describeSource(rule)} holds no repositories`, { where: describeSource(rule) });
  return names;
}

function describeSource(rule: SyncRule): string {
  const s = rule.source;
  if (s.kind === "registry") return `docker://${s.domain}`;
  if (s.kind === "layouts") return `oci:${s.path}`;
  if (s.kind === "archive") return `oci-archive:${s.path}`;
  return formatLocation(s.location);
}

export async function expandRules(
  rules: readonly SyncRule[],
  sources: RepositoryFactory,
  archives: MirrorArchives = new Map(),
  signal?: AbortSignal,
): Promise<Expansion> {
  const out: Expansion = { pairs: [], failures: [] };
  const expanded = await Promise.all(
    rules.map((rule) =>
      expandRule(rule, sources, archives, signal).then(
        (pairs) => ({ rule, pairs }),
        (error: unknown) => ({ rule, error }),
      ),
    ),
  );
  for (const e of expanded) {
    if ("pairs" in e) out.pairs.push(...e.pairs);
    else
      out.failures.push({ rule: e.rule, source: describeSource(e.rule), destination: displayTarget(e.rule.destination), error: e.error });
  }
  refuseNestedLayouts(out.pairs);
  return out;
}

/**
 * Repositories `team` and `team/app` into `oci:DIR` would be the layouts
 * DIR/team and DIR/team/app, one inside the other's folder, which a walk of
 * oci:DIR reads as one layout in another (and which failed depended on timing). Refused before
 * anything is copied, naming the first such pair in sorted order.
 */
function refuseNestedLayouts(pairs: readonly RepositoryPair[]): void {
  const layouts = new Map<string, RepositoryPair>();
  for (const p of pairs) if (p.destination.transport === "oci") layouts.set(resolve(p.destination.path), p);
  const paths = [...layouts.keys()].sort();
  for (const outer of paths) {
    const inner = paths.find((p) => p.startsWith(`${outer}${sep}`));
    if (inner === undefined) continue;
    const a = layouts.get(outer)!;
    const b = layouts.get(inner)!;
    throw new UsageError(
      `cannot sync ${a.name} and ${b.name} into OCI layouts: ${formatLocation(a.destination)} would be a layout holding the layout ${formatLocation(b.destination)} in its folder; sync one of them to another folder (a rule of its own), or into a registry or one oci-archive:FILE, which hold both`,
      { code: "E_LOCATION_INVALID" },
    );
  }
}
