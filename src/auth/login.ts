import { randomBytes } from "node:crypto";
import { chmod, mkdir, open, readFile, realpath, rename, unlink } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { CredentialsError, IoError, UsageError, fsReason } from "../errors.js";
import type { Credentials } from "./credentials.js";
import { canonicalRegistryHost, helperServerURL, normaliseKey } from "./authfile.js";
import { deleteKeychainCredential, storeKeychainCredential } from "./keychain.js";
import { isObject } from "../json.js";

/**
 * Writing docker's config.json for `dray login` / `dray logout`. Reading
 * credentials (for every command) lives with the registry client; this module
 * only writes, and only the `auths` entry of the host concerned: every other
 * key (credHelpers, credsStore, proxies, plugins' settings …) is kept.
 *
 * The file is replaced atomically (temporary file with mode 0600 in the same
 * folder, fsync, rename), so a reader never sees half a file and a crash
 * leaves the old one.
 */

/** The marker an `auths` entry holds when the secret is in the OS keychain. */
export const KEYCHAIN_MARKER = { drayKeychain: true } as const;

type Json = Record<string, unknown>;

/** `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, as the docker CLI resolves it. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.DOCKER_CONFIG !== undefined && env.DOCKER_CONFIG !== "" ? env.DOCKER_CONFIG : join(homedir(), ".docker");
  return join(dir, "config.json");
}

/**
 * The `auths` key docker uses for a registry: docker.io (and its aliases) is
 * `https://index.docker.io/v1/` for historical reasons, every other registry
 * its `host[:port]`.
 */
export function authsKey(host: string): string {
  return helperServerURL(normaliseKey(host).host);
}

const HOST_RE =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;

/**
 * The registry a user names on `dray login HOST`: `HOST[:PORT]`, also given as
 * `docker://HOST` or `https://HOST/` (as docker accepts). Docker Hub's aliases
 * become `docker.io`.
 */
export function parseRegistryHost(text: string): string {
  const host = text
    .trim()
    .replace(/^(?:docker|https?):\/\//i, "")
    .replace(/\/.*$/, "");
  if (!HOST_RE.test(host)) throw new UsageError(`invalid registry host "${text}": expected HOST[:PORT]`, { code: "E_REF_INVALID" });
  return canonicalRegistryHost(host);
}

/** Every host-wide key under `auths` naming `host` (`HOST`, `https://HOST`, `https://HOST/v1/`), so none is left behind. */
function matchingKeys(auths: Json, host: string): string[] {
  const wanted = canonicalRegistryHost(normaliseKey(host).host);
  return Object.keys(auths).filter((k) => {
    const key = normaliseKey(k);
    return key.host === wanted && key.path === "";
  });
}

export function isKeychainMarker(entry: unknown): boolean {
  return isObject(entry) && entry.drayKeychain === true;
}

/** What a user whose config folder cannot be used can do instead. */
const WHERE_ELSE = "; set DOCKER_CONFIG to a folder of your own";

/** Reads config.json; a missing file is an empty config, a malformed one an error (never overwritten). */
export async function readDockerConfig(path: string): Promise<Json> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new IoError(`cannot read ${path}: ${fsReason(err)}${WHERE_ELSE}`, { where: path, cause: err });
  }
  if (text.trim() === "") return {};
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new CredentialsError(`${path} is not valid JSON; fix or remove it before logging in`, { where: path });
  }
  if (!isObject(doc)) throw new CredentialsError(`${path} is not a JSON object`, { where: path });
  if (doc.auths !== undefined && !isObject(doc.auths)) throw new CredentialsError(`${path}: "auths" is not an object`, { where: path });
  return doc;
}

/** Writes config.json atomically with mode 0600; follows a symlinked config.json to its target. */
export async function writeDockerConfig(path: string, doc: Json): Promise<void> {
  let target = path;
  try {
    target = await realpath(path);
  } catch {
    // does not exist yet
  }
  const dir = dirname(target);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new IoError(`cannot create ${dir}: ${fsReason(err)}${WHERE_ELSE}`, { where: dir, cause: err });
  }
  const tmp = join(dir, `.config.json.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  // Tabs, as the docker CLI writes it, so a later `docker login` produces a small diff.
  const data = `${JSON.stringify(doc, null, "\t")}\n`;
  try {
    const fh = await open(tmp, "wx", 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await chmod(tmp, 0o600); // the umask may have narrowed it further, never widened; make it exact
    await rename(tmp, target);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new IoError(`cannot write ${target}: ${fsReason(err)}${WHERE_ELSE}`, { where: target, cause: err });
  }
}

export interface StoreOptions {
  /** config.json path; default dockerConfigPath(). */
  configPath?: string;
  /** Put the secret in the OS keychain; the file then holds only the marker. */
  keychain?: boolean;
  /** Told about things the user should know (a credential helper that docker would prefer). */
  notice?: (message: string) => void;
}

export interface StoreResult {
  configPath: string;
  key: string;
  keychain: boolean;
}

/**
 * Stores a credential that has already been checked against the registry.
 * With `keychain`, the secret goes to the keychain first: if that fails,
 * config.json is left untouched.
 */
export async function storeCredential(host: string, creds: Credentials, opts: StoreOptions = {}): Promise<StoreResult> {
  if (creds.username.includes(":")) throw new UsageError("a user name cannot contain ':'");
  const configPath = opts.configPath ?? dockerConfigPath();
  const doc = await readDockerConfig(configPath);
  const auths: Json = isObject(doc.auths) ? { ...doc.auths } : {};
  const key = authsKey(host);
  const hadMarker = matchingKeys(auths, host).some((k) => isKeychainMarker(auths[k]));
  if (opts.keychain) {
    await storeKeychainCredential(host, creds);
  } else if (hadMarker) {
    // The file takes over from the keychain: drop the old secret so it does not linger.
    await deleteKeychainCredential(host).catch(() => 0);
  }
  for (const k of matchingKeys(auths, host)) delete auths[k];
  auths[key] = opts.keychain ? { ...KEYCHAIN_MARKER } : { auth: Buffer.from(`${creds.username}:${creds.password}`).toString("base64") };
  warnAboutHelpers(doc, key, opts.notice);
  await writeDockerConfig(configPath, { ...doc, auths });
  return { configPath, key, keychain: opts.keychain === true };
}

/** docker itself consults credHelpers / credsStore before `auths`; say so rather than let the user wonder. */
function warnAboutHelpers(doc: Json, key: string, notice?: (m: string) => void): void {
  if (!notice) return;
  const helpers = isObject(doc.credHelpers) ? doc.credHelpers : {};
  if (typeof helpers[key] === "string")
    notice(
      `note: credHelpers sends ${key} to docker-credential-${String(helpers[key])}; the docker CLI will ask that helper, not this entry`,
    );
  else if (typeof doc.credsStore === "string" && doc.credsStore !== "")
    notice(`note: credsStore is "${doc.credsStore}"; the docker CLI will ask docker-credential-${doc.credsStore} before this entry`);
}

export interface RemoveResult {
  configPath: string;
  /** auths keys removed from config.json. */
  removedKeys: string[];
  /** Secrets removed from the OS keychain. */
  keychainRemoved: number;
  /** Set when a keychain marker was removed but the secret could not be (keychain unavailable). */
  keychainError?: string;
}

/**
 * Removes the host's entries from config.json and, when an entry was a
 * keychain marker, the secret from the OS keychain. The keychain is touched
 * only when a marker was there, so logout works on machines without libsecret.
 */
export async function removeCredential(host: string, opts: { configPath?: string } = {}): Promise<RemoveResult> {
  const configPath = opts.configPath ?? dockerConfigPath();
  const doc = await readDockerConfig(configPath);
  const auths: Json = isObject(doc.auths) ? { ...doc.auths } : {};
  const keys = matchingKeys(auths, host);
  const hadMarker = keys.some((k) => isKeychainMarker(auths[k]));
  const result: RemoveResult = { configPath, removedKeys: keys, keychainRemoved: 0 };
  if (hadMarker) {
    try {
      result.keychainRemoved = await deleteKeychainCredential(host);
    } catch (err) {
      result.keychainError = err instanceof Error ? err.message : String(err);
    }
  }
  if (keys.length > 0) {
    for (const k of keys) delete auths[k];
    await writeDockerConfig(configPath, { ...doc, auths });
  }
  return result;
}
