import { readFileSync } from "node:fs";
import { DrayError, UsageError, whyUnreadable } from "../errors.js";
import type { Digest } from "../oci/digest.js";
import type { Descriptor, RawManifest } from "../oci/manifest.js";
import { formatLocation, type RegistryLocation } from "../ref/location.js";
import { formatReference, hostOf, type ImageReference } from "../ref/reference.js";
import type { BlobReadOptions, ImageSource, TransportOptions } from "./types.js";

/**
 * Mirrors for reads, as containers-registries.conf(5) v2 describes them:
 * `[[registry]]` entries with a `prefix`, a `location`, `blocked`, `insecure`
 * and `[[registry.mirror]]` entries tried before the registry itself. The
 * same entries come from a sync file's `mirrors:` block. Only reads use
 * them: a destination is always the location named.
 */

export type PullFromMirror = "all" | "digest-only" | "tag-only";

export interface MirrorEntry {
  location: string;
  insecure: boolean;
  pullFromMirror: PullFromMirror;
}

export interface RegistryEntry {
  prefix: string;
  /** Where the prefix really lives (defaults to the prefix itself). */
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrors: MirrorEntry[];
}

export interface MirrorConfig {
  /** Where the entries came from, for messages (`registries.conf FILE`, `sync.yaml mirrors`). */
  origin: string;
  registries: RegistryEntry[];
}

/** One place an image may be read from, in the order tried. */
export interface ReadCandidate {
  ref: ImageReference;
  insecure: boolean;
  mirror: boolean;
}

const PULL_FROM_MIRROR: readonly PullFromMirror[] = ["all", "digest-only", "tag-only"];
/** Keys of registries.conf that dray reads, and those it knows and leaves to other tools. */
const REGISTRY_KEYS = new Set(["prefix", "location", "insecure", "blocked", "mirror", "mirror-by-digest-only"]);
const MIRROR_KEYS = new Set(["location", "insecure", "pull-from-mirror"]);
const TOP_KEYS_IGNORED = new Set([
  "unqualified-search-registries",
  "short-name-mode",
  "aliases",
  "credential-helpers",
  "additional-layer-store-auth-helper",
]);

type Fields = Record<string, unknown>;

function isFields(v: unknown): v is Fields {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function text(entry: Fields, key: string, where: string): string | undefined {
  const v = entry[key];
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v.trim() === "") throw new UsageError(`${where}.${key} must be a non-empty string`);
  return v.trim();
}

function flag(entry: Fields, key: string, where: string): boolean {
  const v = entry[key];
  if (v === undefined) return false;
  if (typeof v !== "boolean") throw new UsageError(`${where}.${key} must be true or false`);
  return v;
}

function checkKeys(entry: Fields, known: Set<string>, where: string): void {
  const unknown = Object.keys(entry).find((k) => !known.has(k));
  if (unknown !== undefined) throw new UsageError(`${where}: unknown key "${unknown}" (dray reads ${[...known].join(", ")})`);
}

function parseMirror(raw: unknown, where: string, byDigestOnly: boolean): MirrorEntry {
  if (!isFields(raw)) throw new UsageError(`${where} must be a table of location, insecure, pull-from-mirror`);
  checkKeys(raw, MIRROR_KEYS, where);
  const location = text(raw, "location", where);
  if (location === undefined) throw new UsageError(`${where} needs a location`);
  const pull = text(raw, "pull-from-mirror", where);
  if (pull !== undefined && !PULL_FROM_MIRROR.includes(pull as PullFromMirror))
    throw new UsageError(`${where}.pull-from-mirror must be ${PULL_FROM_MIRROR.join(", ")}, not "${pull}"`);
  const pullFromMirror = (pull as PullFromMirror | undefined) ?? (byDigestOnly ? "digest-only" : "all");
  return { location: location.replace(/\/+$/, ""), insecure: flag(raw, "insecure", where), pullFromMirror };
}

/** Entries as registries.conf's `[[registry]]` array or a sync file's `mirrors:` list hold them. */
export function parseRegistryEntries(list: unknown, origin: string, field = "registry"): RegistryEntry[] {
  if (list === undefined) return [];
  const at = origin === "" ? "" : `${origin}: `;
  if (!Array.isArray(list)) throw new UsageError(`${at}${field} must be a list of registries`);
  return list.map((raw, i) => {
    const where = `${at}${field}[${i}]`;
    if (!isFields(raw)) throw new UsageError(`${where} must be a table`);
    checkKeys(raw, REGISTRY_KEYS, where);
    const location = text(raw, "location", where);
    const prefix = text(raw, "prefix", where) ?? location;
    if (prefix === undefined) throw new UsageError(`${where} needs a prefix or a location`);
    if (prefix.startsWith("*.") && location !== undefined) throw new UsageError(`${where}: a wildcard prefix ${prefix} takes no location`);
    const byDigestOnly = flag(raw, "mirror-by-digest-only", where);
    const mirrors = raw.mirror === undefined ? [] : raw.mirror;
    if (!Array.isArray(mirrors)) throw new UsageError(`${where}.mirror must be a list of mirrors`);
    return {
      prefix: prefix.replace(/\/+$/, ""),
      location: (location ?? prefix).replace(/\/+$/, ""),
      insecure: flag(raw, "insecure", where),
      blocked: flag(raw, "blocked", where),
      mirrors: mirrors.map((m, j) => parseMirror(m, `${where}.mirror[${j}]`, byDigestOnly)),
    };
  });
}

const loaded = new Map<string, Promise<MirrorConfig>>();

/** Reads a containers-registries.conf(5) v2 file (TOML), once per process. A v1 file, bad TOML or a bad entry is exit 2 naming it. */
export function loadRegistriesConf(file: string): Promise<MirrorConfig> {
  let found = loaded.get(file);
  if (!found) {
    found = readRegistriesConf(file);
    loaded.set(file, found);
  }
  return found;
}

async function readRegistriesConf(file: string): Promise<MirrorConfig> {
  let body: string;
  try {
    body = readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`--registries-conf ${file} ${whyUnreadable(err)}`, { where: file });
  }
  const { parse, TomlError } = await import("smol-toml");
  let doc: Fields;
  try {
    doc = parse(body) as Fields;
  } catch (err) {
    const why = err instanceof TomlError ? `line ${err.line}, column ${err.column}: ${err.message.split("\n")[0]}` : String(err);
    throw new UsageError(`--registries-conf ${file} is not valid TOML (${why})`, { where: file });
  }
  if (isFields(doc.registries))
    throw new UsageError(`--registries-conf ${file} is in the v1 format ([registries.search]); dray reads the v2 format ([[registry]])`);
  const unknown = Object.keys(doc).find((k) => k !== "registry" && !TOP_KEYS_IGNORED.has(k));
  if (unknown !== undefined) throw new UsageError(`--registries-conf ${file}: unknown key "${unknown}"`);
  return { origin: `registries.conf ${file}`, registries: parseRegistryEntries(doc.registry, `--registries-conf ${file}`) };
}

/** `domain/path` as registries.conf prefixes are written (`docker.io/library/alpine`). */
function repositoryOf(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

function matches(prefix: string, ref: ImageReference): boolean {
  if (prefix.startsWith("*.")) {
    const host = hostOf(ref.domain);
    return host.endsWith(prefix.slice(1)) && host.length > prefix.length - 1;
  }
  const name = repositoryOf(ref);
  return name === prefix || name.startsWith(`${prefix}/`);
}

/** The entry whose prefix matches `ref` most closely (the longest), as containers/image picks it. */
export function findEntry(config: MirrorConfig, ref: ImageReference): RegistryEntry | undefined {
  return config.registries.filter((e) => matches(e.prefix, ref)).sort((a, b) => b.prefix.length - a.prefix.length)[0];
}

/** `ref` moved from under `prefix` to under `location` (`docker.io/library/x` → `mirror.local/hub/library/x`). */
function rewrite(ref: ImageReference, prefix: string, location: string): ImageReference {
  const rest = prefix.startsWith("*.") ? `/${ref.path}` : repositoryOf(ref).slice(prefix.length);
  const target = `${location}${rest}`;
  const slash = target.indexOf("/");
  if (slash <= 0) throw new UsageError(`mirror location ${location} leaves no repository for ${formatReference(ref)}`);
  return { ...ref, domain: target.slice(0, slash), path: target.slice(slash + 1) };
}

function mayUse(mirror: MirrorEntry, ref: ImageReference): boolean {
  if (mirror.pullFromMirror === "all") return true;
  return mirror.pullFromMirror === "digest-only" ? ref.digest !== undefined : ref.digest === undefined;
}

/**
 * Where to read `ref` from, in order: the mirrors that may serve it (a read
 * by digest may use any, since the digest is checked; a read by tag only the
 * mirrors whose pull-from-mirror allows tags), then the registry itself.
 * `exclude` (the run's destination) is never read from. A blocked prefix is
 * exit 2.
 */
export function readCandidates(config: MirrorConfig, ref: ImageReference, exclude: readonly ImageReference[] = []): ReadCandidate[] {
  const entry = findEntry(config, ref);
  if (!entry) return [{ ref, insecure: false, mirror: false }];
  if (entry.blocked) throw new UsageError(`${formatReference(ref)} is blocked by ${config.origin} (prefix ${entry.prefix})`);
  // A destination names a repository or, for a sync rule, a prefix of repositories: either way, nothing under it is read.
  const isExcluded = (r: ImageReference): boolean =>
    exclude.some((x) => x.domain === r.domain && (r.path === x.path || r.path.startsWith(`${x.path}/`)));
  const mirrors = entry.mirrors
    .filter((m) => mayUse(m, ref))
    .map((m) => ({ ref: rewrite(ref, entry.prefix, m.location), insecure: m.insecure, mirror: true }))
    .filter((c) => !isExcluded(c.ref));
  const primary = entry.prefix.startsWith("*.") ? ref : rewrite(ref, entry.prefix, entry.location);
  return [...mirrors, { ref: primary, insecure: entry.insecure, mirror: false }];
}

type Opener = (loc: RegistryLocation, opts: TransportOptions) => Promise<ImageSource>;

/**
 * A source that reads from the first candidate whose manifest answers:
 * mirrors first, then the registry. A mirror that fails is named in one
 * notice and the next is tried; once one answered, every later read goes to
 * it (a mirror's blobs are checked against the digests like any source's).
 */
export class MirroredSource implements ImageSource {
  /** The mirror that served the image (its location), unset while the registry itself serves it. */
  servedBy: string | undefined;
  private chosen: Promise<ImageSource> | undefined;

  constructor(
    readonly location: RegistryLocation,
    private readonly candidates: readonly ReadCandidate[],
    private readonly opts: TransportOptions,
    private readonly open: Opener,
  ) {}

  async getManifest(digest?: Digest, opts?: BlobReadOptions): Promise<RawManifest> {
    if (this.chosen) return (await this.chosen).getManifest(digest, opts);
    let first: RawManifest | undefined;
    this.chosen = this.choose(digest, opts, (m) => (first = m));
    const source = await this.chosen;
    return first ?? source.getManifest(digest, opts);
  }

  async getBlob(desc: Descriptor, opts?: BlobReadOptions): Promise<import("node:stream").Readable> {
    if (!this.chosen) await this.getManifest(undefined, opts);
    return (await this.chosen!).getBlob(desc, opts);
  }

  async close(): Promise<void> {
    const chosen = this.chosen;
    this.chosen = undefined;
    if (chosen) await (await chosen.catch(() => undefined))?.close();
  }

  private async choose(
    digest: Digest | undefined,
    opts: BlobReadOptions | undefined,
    keep: (m: RawManifest) => void,
  ): Promise<ImageSource> {
    let last: unknown;
    for (const [i, c] of this.candidates.entries()) {
      const loc: RegistryLocation = { transport: "docker", ref: c.ref };
      const source = await this.open(loc, c.insecure ? { ...this.opts, insecure: true } : this.opts);
      try {
        keep(await source.getManifest(digest, opts));
        if (c.mirror) {
          this.servedBy = formatLocation(loc);
          this.opts.notice?.(`${formatLocation(this.location)} read from mirror ${this.servedBy}`);
        }
        return source;
      } catch (err) {
        await source.close();
        if (opts?.signal?.aborted || i === this.candidates.length - 1) throw err;
        last = err;
        const next = this.candidates[i + 1]!;
        const why = err instanceof DrayError ? err.message : String(err);
        this.opts.notice?.(
          `mirror ${formatLocation(loc)} failed (${why}); trying ${next.mirror ? "mirror " : ""}${formatLocation({ transport: "docker", ref: next.ref })}`,
        );
      }
    }
    throw last;
  }
}

/**
 * `loc` read through the mirrors `opts` names (`mirrors`, or the
 * `registriesConf` file), or undefined when none may serve it and the
 * registry is read directly. `open` opens one candidate without mirrors.
 */
export async function openThroughMirrors(loc: RegistryLocation, opts: TransportOptions, open: Opener): Promise<ImageSource | undefined> {
  if (!opts.mirrors && opts.registriesConf === undefined) return undefined;
  const config = opts.mirrors ?? (await loadRegistriesConf(opts.registriesConf!));
  const candidates = readCandidates(config, loc.ref, opts.mirrorExclude);
  const only = candidates.length === 1 ? candidates[0]! : undefined;
  if (only && !only.mirror && only.ref === loc.ref) return undefined;
  return new MirroredSource(loc, candidates, opts, open);
}
