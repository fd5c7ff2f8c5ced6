/**
 * The `dray sync` YAML file: parsed with `yaml` (keeping node positions),
 * validated field by field, every message naming `FILE:LINE:COL` and the
 * field (`sync[1].tags.semver`). The file says what to mirror and how to
 * reach each registry; secrets come from the environment or the usual
 * credential files, never from the file itself unless the user insists.
 *
 * ```yaml
 * jobs: 4                      # default for --jobs
 * referrers: true              # default for every rule
 * destination: mirror.example.com/mirror   # default destination prefix
 * skip-existing: false         # default for every rule (a rule may say otherwise)
 * prune: false                 # default for every rule
 * shard: 1/3                   # this run's share (--shard)
 * registries:
 *   registry.example.com:
 *     username: alice
 *     password-env: REGISTRY_TOKEN
 *     insecure: false
 *     ca-file: /etc/ssl/internal-ca.pem
 *     cert-dir: /etc/dray/certs.d/registry.example.com
 *     authfile: /run/secrets/auth.json
 *     retries: 5
 *     trust-realm: [auth.example.net]   # a token service on another site may get the credential
 *     requests-per-second: 10  # throttles: starts per second, requests in flight,
 *     concurrency: 4
 *     min-remaining: 20        # and no more pulls once RateLimit-Remaining is this low
 *     verify: { policy: /etc/containers/policy.json }   # the signature gate for this registry's images
 * verify:                      # the signature gate of every image (a registry's or a rule's own wins)
 *   keys: [/etc/keys/release.pub]
 *   require-each: false
 * sign-key: /etc/keys/mirror.key   # re-sign every image copied (cosign's encrypted key: DRAY_KEY_PASSWORD)
 * sign-format: bundle          # bundle (default), legacy or both
 * sync:
 *   - source: registry.example.com/team/app
 *     tags: { regex: '^v1\.', semver: '>=1.2 <2', newest: 3, exclude: ['-rc', '^dev'] }
 *     platforms: [linux/amd64, linux/arm64]
 *   - source: registry.example.com
 *     repositories: [team/db, team/cache]
 *     destination: oci:/mnt/usb
 *     referrers: false
 * ```
 */
import { readFileSync, statSync } from "node:fs";
import { parseRegistryEntries, type MirrorConfig } from "../transport/mirrors.js";
import { readFile } from "node:fs/promises";
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node as YamlNode, type YAMLMap } from "yaml";
import { DrayError, SyncConfigError, UsageError, whyUnreadable } from "../errors.js";
import { parsePlatform, type Platform } from "../oci/platform.js";
import type { Location } from "../ref/location.js";
import { caFileProblem } from "../transport/ca-file.js";
import type { TransportOptions } from "../transport/types.js";
import { authFileProblem } from "../auth/authfile.js";
import { invalidTrustRealm } from "../auth/trust-realm-syntax.js";
import { checkTagFilter, type TagFilter } from "./filter.js";
import { parseSyncSource, parseSyncTarget } from "./locations.js";
import { parseShard, type Shard } from "./shard.js";
import type { SyncRule, RegistrySettings } from "./types.js";
import { hasTrustFlags, type TrustFlags } from "../signature/policy.js";
import { defined } from "../defined.js";

/** Connection settings of one registry, as the file gives them. */
export type { RegistrySettings };

export interface SyncConfig {
  jobs?: number;
  /** `manifest-format: oci|docker`: convert every image. */
  manifestFormat?: "oci" | "docker";
  /** `compress: gzip|zstd|none` and `compress-level: N`: recompress every layer. */
  compress?: "gzip" | "zstd" | "none";
  compressLevel?: number;
  /** `shard: 2/3` (usually given per runner with --shard instead). */
  shard?: Shard;
  rules: SyncRule[];
  /** Registry host (`host[:port]`) → its settings. */
  registries: Map<string, RegistrySettings>;
  /** `verify:` at the top: the signature gate of every image (a registry's or a rule's own wins). */
  verify?: TrustFlags;
  /** `sign-key: FILE` (relative to the working folder, as --sign-key) and `sign-format: bundle|legacy|both`: re-sign every image copied. */
  signKey?: string;
  signFormat?: string;
  /** `mirrors:`: where reads may go first (containers-registries.conf entries). */
  mirrors?: MirrorConfig;
}

export interface ConfigEnv {
  /** Where `password-env` is read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** A destination given outside the file (`--dest`): the file then needs none of its own. */
  destination?: string;
}

type Json = string | number | boolean | null;

class Reader {
  constructor(
    private readonly file: string,
    private readonly lines: LineCounter,
  ) {}

  fail(node: YamlNode | null | undefined, field: string, message: string): never {
    const offset = node?.range?.[0];
    const at = offset === undefined ? this.file : (({ line, col }) => `${this.file}:${line}:${col}`)(this.lines.linePos(offset));
    throw new SyncConfigError(`${at}: ${field ? `${field}: ` : ""}${message}`);
  }

  /** A mapping whose keys are strings, one of `allowed` when given. */
  map(node: YamlNode | null | undefined, field: string, allowed?: readonly string[]): YAMLMap.Parsed {
    if (!isMap(node)) this.fail(node, field, "expected a mapping (key: value)");
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? pair.key.value : undefined;
      if (typeof key !== "string") this.fail(pair.key as YamlNode, field, "keys must be strings");
      if (allowed && !allowed.includes(key))
        this.fail(pair.key as YamlNode, field, `unknown key "${key}" (expected one of: ${allowed.join(", ")})`);
    }
    return node as YAMLMap.Parsed;
  }

  get(m: YAMLMap.Parsed, key: string): YamlNode | undefined {
    const pair = m.items.find((p) => isScalar(p.key) && p.key.value === key);
    return (pair?.value ?? undefined) as YamlNode | undefined;
  }

  scalar(node: YamlNode, field: string): Json {
    if (!isScalar(node)) this.fail(node, field, "expected a single value");
    const v = node.value;
    if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean") return v;
    return this.fail(node, field, "expected a string, number or boolean");
  }

  string(node: YamlNode, field: string): string {
    const v = this.scalar(node, field);
    if (typeof v === "number") return String(v); // `tags: [3.19]` means the tag "3.19"
    if (typeof v !== "string" || v === "") this.fail(node, field, "expected a non-empty string");
    return v;
  }

  bool(node: YamlNode, field: string): boolean {
    const v = this.scalar(node, field);
    if (typeof v !== "boolean") this.fail(node, field, "expected true or false");
    return v;
  }

  /** A number above zero (a rate: `0.5` is one request every two seconds). */
  positive(node: YamlNode, field: string): number {
    const v = this.scalar(node, field);
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) this.fail(node, field, "expected a number above 0");
    return v;
  }

  int(node: YamlNode, field: string, min: number): number {
    const v = this.scalar(node, field);
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) this.fail(node, field, `expected an integer ≥ ${min}`);
    return v;
  }

  strings(node: YamlNode, field: string): string[] {
    if (!isSeq(node)) this.fail(node, field, "expected a list");
    return node.items.map((item, i) => this.string(item as YamlNode, `${field}[${i}]`));
  }

  /** Runs `fn`, turning a UsageError it throws into one that names `node`'s place. */
  check<T>(node: YamlNode, field: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof DrayError && !(err instanceof SyncConfigError)) this.fail(node, field, err.message);
      throw err;
    }
  }
}

const TOP_KEYS = [
  "version",
  "jobs",
  "manifest-format",
  "compress",
  "compress-level",
  "referrers",
  "platforms",
  "destination",
  "skip-existing",
  "prune",
  "shard",
  "registries",
  "verify",
  "sign-key",
  "sign-format",
  "mirrors",
  "sync",
] as const;
const RULE_KEYS = ["source", "repositories", "destination", "tags", "platforms", "referrers", "skip-existing", "prune", "verify"] as const;
/** The signature gate, as `verify:` at the top, under a registry or under a rule. */
const VERIFY_KEYS = [
  "key",
  "keys",
  "certificate-identity",
  "certificate-identity-regexp",
  "certificate-oidc-issuer",
  "certificate-oidc-issuer-regexp",
  "trusted-root",
  "notation-trust-store",
  "policy",
  "signed-identity",
  "require-each",
  "require-tlog",
] as const;
const TAG_KEYS = ["names", "regex", "semver", "newest", "exclude"] as const;
const REGISTRY_KEYS = [
  "username",
  "password",
  "password-env",
  "authfile",
  "insecure",
  "ca-file",
  "cert-dir",
  "client-cert",
  "client-key",
  "retries",
  "trust-realm",
  "requests-per-second",
  "concurrency",
  "min-remaining",
  "verify",
] as const;

interface Defaults {
  destination?: { node: YamlNode; text: string };
  referrers: boolean;
  skipExisting: boolean;
  prune: boolean;
  platforms?: Platform[];
}

function readPlatforms(r: Reader, node: YamlNode, field: string): Platform[] {
  return r
    .strings(node, field)
    .map((p, i) => r.check((isSeq(node) ? node.items[i] : node) as YamlNode, `${field}[${i}]`, () => parsePlatform(p)));
}

function readTags(r: Reader, node: YamlNode, field: string): TagFilter {
  if (isSeq(node)) return { names: r.strings(node, field) };
  const m = r.map(node, field, TAG_KEYS);
  const f: TagFilter = {};
  const names = r.get(m, "names");
  if (names) f.names = r.strings(names, `${field}.names`);
  const regex = r.get(m, "regex");
  if (regex) f.regex = r.string(regex, `${field}.regex`);
  const range = r.get(m, "semver");
  if (range) f.semver = r.string(range, `${field}.semver`);
  const newest = r.get(m, "newest");
  if (newest) f.newest = r.int(newest, `${field}.newest`, 1);
  const exclude = r.get(m, "exclude");
  if (exclude) f.exclude = isSeq(exclude) ? r.strings(exclude, `${field}.exclude`) : [r.string(exclude, `${field}.exclude`)];
  // Each checked at its own node, so the message points at the value.
  if (regex) r.check(regex, `${field}.regex`, () => checkTagFilter({ regex: f.regex! }));
  if (range) r.check(range, `${field}.semver`, () => checkTagFilter({ semver: f.semver! }));
  if (exclude) r.check(exclude, `${field}.exclude`, () => checkTagFilter({ exclude: f.exclude! }));
  return f;
}

/** A `verify:` block: the same trust material as the command line's flags (files relative to the working folder, as they are read then). */
function readVerify(r: Reader, node: YamlNode, field: string): TrustFlags {
  const m = r.map(node, field, VERIFY_KEYS);
  const f: TrustFlags = {};
  const str = (key: string): string | undefined => {
    const n = r.get(m, key);
    return n ? r.string(n, `${field}.${key}`) : undefined;
  };
  // `key: FILE` or `keys: [FILE, …]` (either takes a list or a single value).
  const keys = ["key", "keys"].flatMap((k) => {
    const n = r.get(m, k);
    if (!n) return [];
    return isSeq(n) ? r.strings(n, `${field}.${k}`) : [r.string(n, `${field}.${k}`)];
  });
  if (keys.length > 0) f.keys = keys;
  const strings: Array<
    [
      string,
      (
        | "certificateIdentity"
        | "certificateIdentityRegexp"
        | "certificateOidcIssuer"
        | "certificateOidcIssuerRegexp"
        | "trustedRoot"
        | "notationTrustStore"
        | "policy"
        | "signedIdentity"
      ),
    ]
  > = [
    ["certificate-identity", "certificateIdentity"],
    ["certificate-identity-regexp", "certificateIdentityRegexp"],
    ["certificate-oidc-issuer", "certificateOidcIssuer"],
    ["certificate-oidc-issuer-regexp", "certificateOidcIssuerRegexp"],
    ["trusted-root", "trustedRoot"],
    ["notation-trust-store", "notationTrustStore"],
    ["policy", "policy"],
    ["signed-identity", "signedIdentity"],
  ];
  for (const [key, prop] of strings) {
    const v = str(key);
    if (v !== undefined) f[prop] = v;
  }
  const each = r.get(m, "require-each");
  if (each && r.bool(each, `${field}.require-each`)) f.requireEach = true;
  const tlog = r.get(m, "require-tlog");
  if (tlog && r.bool(tlog, `${field}.require-tlog`)) f.requireTlog = true;
  if (!hasTrustFlags(f))
    r.fail(node, field, "names no trust material (key, keys, certificate-identity with trusted-root, notation-trust-store or policy)");
  return f;
}

function readRule(r: Reader, node: YamlNode, i: number, defaults: Defaults, file: string, lines: LineCounter): SyncRule {
  const field = `sync[${i}]`;
  const m = r.map(node, field, RULE_KEYS);
  const sourceNode = r.get(m, "source");
  if (!sourceNode) r.fail(node, field, 'missing "source" (a registry HOST, a repository HOST/REPO, or oci:DIR)');
  const reposNode = r.get(m, "repositories");
  const repositories = reposNode ? r.strings(reposNode, `${field}.repositories`) : undefined;
  const sourceText = r.string(sourceNode, `${field}.source`);
  const parsed = r.check(sourceNode, `${field}.source`, () => parseSyncSource(sourceText, repositories));
  const destNode = r.get(m, "destination");
  const dest = destNode ? { node: destNode, text: r.string(destNode, `${field}.destination`) } : defaults.destination;
  if (!dest) r.fail(node, field, 'missing "destination" (here or at the top of the file, or give --dest DST)');
  const destination = r.check(dest.node, destNode ? `${field}.destination` : "destination", () => parseSyncTarget(dest.text, false));
  const rule: SyncRule = { source: parsed.source, destination, referrers: defaults.referrers };
  const skipNode = r.get(m, "skip-existing");
  if (skipNode ? r.bool(skipNode, `${field}.skip-existing`) : defaults.skipExisting) rule.skipExisting = true;
  const pruneNode = r.get(m, "prune");
  if (pruneNode ? r.bool(pruneNode, `${field}.prune`) : defaults.prune) rule.prune = true;
  const tagsNode = r.get(m, "tags");
  if (tagsNode) rule.tags = readTags(r, tagsNode, `${field}.tags`);
  if (parsed.tag) rule.tags = { ...rule.tags, names: [...(rule.tags?.names ?? []), parsed.tag] };
  const platformsNode = r.get(m, "platforms");
  const platforms = platformsNode ? readPlatforms(r, platformsNode, `${field}.platforms`) : defaults.platforms;
  if (platforms && platforms.length > 0) rule.platforms = platforms;
  const refNode = r.get(m, "referrers");
  if (refNode) rule.referrers = r.bool(refNode, `${field}.referrers`);
  const verifyNode = r.get(m, "verify");
  if (verifyNode) rule.verify = readVerify(r, verifyNode, `${field}.verify`);
  const offset = node.range?.[0];
  rule.origin = offset === undefined ? file : `${file}:${lines.linePos(offset).line}`;
  return rule;
}

function readRegistry(r: Reader, node: YamlNode, field: string, env: NodeJS.ProcessEnv): RegistrySettings {
  const m = r.map(node, field, REGISTRY_KEYS);
  const s: RegistrySettings = {};
  const str = (key: string): string | undefined => {
    const n = r.get(m, key);
    return n ? r.string(n, `${field}.${key}`) : undefined;
  };
  const username = str("username");
  const password = str("password");
  const passwordEnv = str("password-env");
  if (password !== undefined && passwordEnv !== undefined)
    r.fail(r.get(m, "password-env"), field, 'give "password" or "password-env", not both');
  if (username !== undefined) {
    s.username = username;
    if (passwordEnv !== undefined) {
      const value = env[passwordEnv];
      if (value === undefined) r.fail(r.get(m, "password-env"), `${field}.password-env`, `environment variable ${passwordEnv} is not set`);
      s.password = value;
    } else if (password !== undefined) s.password = password;
    else r.fail(r.get(m, "username"), field, '"username" needs "password-env" (or "password")');
  } else if (password !== undefined || passwordEnv !== undefined) {
    r.fail(r.get(m, password !== undefined ? "password" : "password-env"), field, 'a password needs "username"');
  }
  const authfile = str("authfile");
  if (authfile !== undefined) {
    checkSettingsFile(r, r.get(m, "authfile"), `${field}.authfile`, authfile, "auth");
    s.authfile = authfile;
  }
  const caFile = str("ca-file");
  if (caFile !== undefined) {
    checkSettingsFile(r, r.get(m, "ca-file"), `${field}.ca-file`, caFile, "ca");
    s.caFile = caFile;
  }
  const certDir = str("cert-dir");
  if (certDir !== undefined) {
    checkSettingsFile(r, r.get(m, "cert-dir"), `${field}.cert-dir`, certDir, "folder");
    s.certDir = certDir;
  }
  const clientCert = str("client-cert");
  const clientKey = str("client-key");
  if ((clientCert === undefined) !== (clientKey === undefined))
    r.fail(r.get(m, clientCert === undefined ? "client-key" : "client-cert"), field, '"client-cert" and "client-key" go together');
  if (clientCert !== undefined && clientKey !== undefined) {
    s.clientCert = clientCert;
    s.clientKey = clientKey;
  }
  const insecure = r.get(m, "insecure");
  if (insecure) s.insecure = r.bool(insecure, `${field}.insecure`);
  const retries = r.get(m, "retries");
  if (retries) s.retries = r.int(retries, `${field}.retries`, 0);
  const trust = r.get(m, "trust-realm");
  if (trust) {
    const hosts = isSeq(trust) ? r.strings(trust, `${field}.trust-realm`) : [r.string(trust, `${field}.trust-realm`)];
    hosts.forEach((h) => {
      const invalid = invalidTrustRealm(h);
      if (invalid) r.fail(trust, `${field}.trust-realm`, `"${h}" ${invalid}`);
    });
    s.trustRealms = hosts.map((h) => h.trim().toLowerCase());
  }
  const rate = r.get(m, "requests-per-second");
  if (rate) s.requestsPerSecond = r.positive(rate, `${field}.requests-per-second`);
  const concurrency = r.get(m, "concurrency");
  if (concurrency) s.concurrency = r.int(concurrency, `${field}.concurrency`, 1);
  const minRemaining = r.get(m, "min-remaining");
  if (minRemaining) s.minRemaining = r.int(minRemaining, `${field}.min-remaining`, 0);
  const verify = r.get(m, "verify");
  if (verify) s.verify = readVerify(r, verify, `${field}.verify`);
  return s;
}

/**
 * A file a registry's settings name, read while the sync file is: missing,
 * unreadable or of the wrong kind it is one located mistake (exit 2) before
 * anything runs, not one failure per repository of that registry. skopeo and
 * podman likewise refuse a missing --authfile up front (containers/common
 * pkg/auth CheckAuthFile). Relative paths are taken from the working folder,
 * as when the run reads them.
 */
function checkSettingsFile(r: Reader, node: YamlNode | undefined, field: string, path: string, kind: "auth" | "ca" | "folder"): void {
  if (kind === "folder") {
    let isFolder: boolean;
    try {
      isFolder = statSync(path).isDirectory();
    } catch (err) {
      r.fail(node, field, `${path} ${whyUnreadable(err)}`);
    }
    if (!isFolder) r.fail(node, field, `${path} is not a folder`);
    return;
  }
  if (kind === "ca") {
    const problem = caFileProblem(path);
    if (problem) r.fail(node, field, problem);
    return;
  }
  if (kind === "auth") {
    const problem = authFileProblem(path);
    if (problem) r.fail(node, field, `${path} ${problem}`);
    return;
  }
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    r.fail(node, field, `${path} ${whyUnreadable(err)}`);
  }
  if (text.trim() !== "") {
    try {
      JSON.parse(text);
    } catch {
      r.fail(node, field, `${path} is not valid JSON`);
    }
  }
}

/** Parses and validates a sync file's text; `file` names it in messages. */
export function parseSyncConfig(text: string, file: string, opts: ConfigEnv = {}): SyncConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const r: Reader = new Reader(file, lines);
  const first = doc.errors[0];
  if (first) {
    const pos = first.linePos?.[0];
    throw new SyncConfigError(
      `${pos ? `${file}:${pos.line}:${pos.col}` : file}: invalid YAML: ${first.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "")}`,
    );
  }
  const top = r.map(doc.contents as YamlNode | null, "", TOP_KEYS);
  const version = r.get(top, "version");
  if (version && r.scalar(version, "version") !== 1) r.fail(version, "version", "only version 1 is known");
  const defaults: Defaults = { referrers: true, skipExisting: false, prune: false };
  const skipExisting = r.get(top, "skip-existing");
  if (skipExisting) defaults.skipExisting = r.bool(skipExisting, "skip-existing");
  const prune = r.get(top, "prune");
  if (prune) defaults.prune = r.bool(prune, "prune");
  const dest = r.get(top, "destination");
  if (dest) defaults.destination = { node: dest, text: r.string(dest, "destination") };
  else if (opts.destination !== undefined) defaults.destination = { node: top, text: opts.destination };
  const referrers = r.get(top, "referrers");
  if (referrers) defaults.referrers = r.bool(referrers, "referrers");
  const platforms = r.get(top, "platforms");
  if (platforms) defaults.platforms = readPlatforms(r, platforms, "platforms");
  const config: SyncConfig = { rules: [], registries: new Map() };
  const jobs = r.get(top, "jobs");
  if (jobs) config.jobs = r.int(jobs, "jobs", 1);
  const manifestFormat = r.get(top, "manifest-format");
  if (manifestFormat) {
    const text = r.string(manifestFormat, "manifest-format");
    if (text !== "oci" && text !== "docker") r.fail(manifestFormat, "manifest-format", "expected oci or docker");
    config.manifestFormat = text;
  }
  const compress = r.get(top, "compress");
  if (compress) {
    const text = r.string(compress, "compress");
    if (text !== "gzip" && text !== "zstd" && text !== "none") r.fail(compress, "compress", "expected gzip, zstd or none");
    config.compress = text;
  }
  const level = r.get(top, "compress-level");
  if (level) config.compressLevel = r.int(level, "compress-level", 0);
  const shard = r.get(top, "shard");
  if (shard) config.shard = r.check(shard, "shard", () => parseShard(r.string(shard, "shard")));
  const registries = r.get(top, "registries");
  if (registries) {
    const m = r.map(registries, "registries");
    for (const pair of m.items) {
      const host = r.string(pair.key as YamlNode, "registries");
      config.registries.set(host, readRegistry(r, pair.value as YamlNode, `registries.${host}`, opts.env ?? process.env));
    }
  }
  const verify = r.get(top, "verify");
  if (verify) config.verify = readVerify(r, verify, "verify");
  const signKey = r.get(top, "sign-key");
  if (signKey) config.signKey = r.string(signKey, "sign-key");
  const signFormat = r.get(top, "sign-format");
  if (signFormat) {
    const text = r.string(signFormat, "sign-format");
    if (text !== "bundle" && text !== "legacy" && text !== "both") r.fail(signFormat, "sign-format", "expected bundle, legacy or both");
    if (!signKey) r.fail(signFormat, "sign-format", "goes with sign-key");
    config.signFormat = text;
  }
  const mirrors = r.get(top, "mirrors");
  if (mirrors) {
    // The entries of containers-registries.conf(5) v2, written in YAML: prefix, location, blocked, insecure, mirror[].
    const entries = r.check(mirrors, "mirrors", () => parseRegistryEntries((mirrors as { toJSON(): unknown }).toJSON(), "", "mirrors"));
    config.mirrors = { origin: `${file} mirrors`, registries: entries };
  }
  const rules = r.get(top, "sync");
  if (!rules) r.fail(doc.contents as YamlNode, "", 'missing "sync" (the list of what to mirror)');
  if (!isSeq(rules) || rules.items.length === 0) r.fail(rules, "sync", "expected a non-empty list");
  rules.items.forEach((item, i) => config.rules.push(readRule(r, item as YamlNode, i, defaults, file, lines)));
  return config;
}

export async function loadSyncConfig(file: string, opts: ConfigEnv = {}): Promise<SyncConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read sync file ${file}: ${code === "ENOENT" ? "no such file" : String((err as Error).message)}`);
  }
  return parseSyncConfig(text, file, opts);
}

/** TransportOptions for a registry: the command line's, with the file's settings for that host on top. */
export function optionsFor(base: TransportOptions, settings: RegistrySettings | undefined): TransportOptions {
  if (!settings) return base;
  const out: TransportOptions = { ...base };
  if (settings.username !== undefined && settings.password !== undefined)
    out.creds = { username: settings.username, password: settings.password };
  if (settings.authfile !== undefined) out.authFile = settings.authfile;
  if (settings.insecure !== undefined) out.insecure = settings.insecure;
  if (settings.caFile !== undefined) out.caFile = settings.caFile;
  if (settings.certDir !== undefined) out.certDir = settings.certDir;
  if (settings.clientCert !== undefined && settings.clientKey !== undefined) {
    out.clientCert = settings.clientCert;
    out.clientKey = settings.clientKey;
  }
  if (settings.retries !== undefined) out.retries = settings.retries;
  if (settings.trustRealms !== undefined) out.trustRealms = [...(base.trustRealms ?? []), ...settings.trustRealms];
  if (settings.requestsPerSecond !== undefined || settings.concurrency !== undefined) {
    out.throttle = {
      ...defined({ requestsPerSecond: settings.requestsPerSecond, concurrency: settings.concurrency }),
    };
  }
  return out;
}

/**
 * One TransportOptions object per registry and side: `base`'s options with the
 * sync file's settings for that host on top, built once per host (so each
 * registry keeps one client and one token cache for the run).
 */
export function withRegistrySettings(
  base: (loc: Location) => TransportOptions,
  registries: ReadonlyMap<string, RegistrySettings> | undefined,
): (loc: Location) => TransportOptions {
  if (!registries || registries.size === 0) return base;
  const cache = new Map<string, TransportOptions>();
  return (loc) => {
    if (loc.transport !== "docker") return base(loc);
    const domain = loc.ref.domain;
    let o = cache.get(domain);
    if (!o) {
      o = optionsFor(base(loc), registries.get(domain));
      cache.set(domain, o);
    }
    return o;
  };
}
