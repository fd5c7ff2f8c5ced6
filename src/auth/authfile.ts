import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { CredentialsError, whyUnreadable } from "../errors.js";
import { isObject } from "../json.js";

/**
 * Docker `config.json` and containers `auth.json` share one shape:
 *   { "auths": { KEY: { "auth": base64(user:pass), "identitytoken": … } },
 *     "credHelpers": { KEY: NAME }, "credsStore": NAME }
 * This module reads such a file and finds the entry for a registry the way
 * each tool does: docker matches by host only (keys may carry `https://` and
 * a path, as `https://index.docker.io/v1/`), containers also by
 * `host/namespace/repo`, most specific first.
 */

/** What an `auths` entry says about a registry. */
export type AuthEntry =
  | { kind: "basic"; username: string; password: string }
  | { kind: "identity-token"; username: string; token: string }
  /** Written by `dray login --keychain`: the secret lives in the OS keychain. */
  | { kind: "keychain" }
  /** An entry with no secret (docker writes `{}` when a credsStore holds it). */
  | { kind: "empty" };

export interface AuthFile {
  path: string;
  auths: Map<string, unknown>;
  credHelpers: Map<string, string>;
  credsStore?: string;
}

export const DOCKER_IO = "docker.io";
/** The key docker has always used for Docker Hub, also what credential helpers are asked for. */
export const DOCKER_HUB_LEGACY_KEY = "https://index.docker.io/v1/";
const DOCKER_HUB_ALIASES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);

/**
 * Reads a file of either flavour; undefined when it does not exist, unless it was named explicitly (`required`:
 * --authfile, $REGISTRY_AUTH_FILE), which must be there. A file that exists but is not valid JSON is an error.
 */
export async function readAuthFile(path: string, required = false): Promise<AuthFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!required && (code === "ENOENT" || code === "ENOTDIR")) return undefined;
    throw new CredentialsError(`credentials file ${path} ${whyUnreadable(err)}`, { where: path });
  }
  if (text.trim() === "") return { path, auths: new Map(), credHelpers: new Map() };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new CredentialsError(`credentials file ${path} is not valid JSON`, { where: path });
  }
  if (!isObject(doc)) throw new CredentialsError(`credentials file ${path} is not a JSON object`, { where: path });
  const auths = new Map<string, unknown>();
  if (isObject(doc.auths)) for (const [k, v] of Object.entries(doc.auths)) auths.set(k, v);
  const credHelpers = new Map<string, string>();
  if (isObject(doc.credHelpers)) {
    for (const [k, v] of Object.entries(doc.credHelpers)) if (typeof v === "string" && v !== "") credHelpers.set(k, v);
  }
  const file: AuthFile = { path, auths, credHelpers };
  if (typeof doc.credsStore === "string" && doc.credsStore !== "") file.credsStore = doc.credsStore;
  return file;
}

/**
 * Why a credentials file someone named (--authfile, $REGISTRY_AUTH_FILE, a sync file's `authfile`) cannot be
 * used, in words (`does not exist`, `is a directory, not a file`, `is not valid JSON`), or undefined when it can.
 * Checked up front, as skopeo and podman do (containers/common pkg/auth CheckAuthFile): a file that is silently
 * skipped sends the pull out anonymously.
 */
export function authFileProblem(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    return whyUnreadable(err);
  }
  if (text.trim() === "") return undefined;
  try {
    JSON.parse(text);
    return undefined;
  } catch {
    return "is not valid JSON";
  }
}

/** Canonical registry host: Docker Hub's aliases become `docker.io`, hosts are lowercased. */
export function canonicalRegistryHost(host: string): string {
  const lower = host.toLowerCase();
  return DOCKER_HUB_ALIASES.has(lower) ? DOCKER_IO : lower;
}

/**
 * Splits a file key into host and path: `https://index.docker.io/v1/` →
 * docker.io with no path, `quay.io/org/repo` → quay.io + org/repo.
 */
export function normaliseKey(key: string): { host: string; path: string } {
  let rest = key.trim().replace(/^[a-z]+:\/\//i, "");
  const slash = rest.indexOf("/");
  const host = slash < 0 ? rest : rest.slice(0, slash);
  rest = slash < 0 ? "" : rest.slice(slash + 1);
  // The legacy `/v1/` and `/v2/` suffixes name the API, not a repository.
  const path = rest.replace(/\/+$/, "").replace(/^v[12]$/, "");
  return { host: canonicalRegistryHost(host), path };
}

/**
 * The key of `map` that applies to `host`. With `repoPath`, keys scoped to a
 * namespace (`host/org`) match too and the most specific wins (containers);
 * with `ignorePaths`, a key's path is ignored altogether (docker).
 */
export function findKey<T>(map: Map<string, T>, host: string, repoPath: string | undefined, ignorePaths = false): string | undefined {
  const wanted = canonicalRegistryHost(host);
  let best: string | undefined;
  let bestLength = -1;
  for (const key of map.keys()) {
    const k = normaliseKey(key);
    if (k.host !== wanted) continue;
    let specificity = 0;
    if (k.path !== "" && !ignorePaths) {
      if (repoPath === undefined) continue;
      if (repoPath !== k.path && !repoPath.startsWith(`${k.path}/`)) continue;
      specificity = k.path.length + 1;
    }
    // Among equal matches prefer the key written exactly as the host (docker's own form).
    if (specificity > bestLength || (specificity === bestLength && key === host)) {
      best = key;
      bestLength = specificity;
    }
  }
  return best;
}

/** Decodes one `auths` entry; malformed base64 or a missing colon is an error naming the file. */
export function parseAuthEntry(value: unknown, file: string, key: string): AuthEntry {
  const where = `${file} (auths["${key}"])`;
  if (!isObject(value)) throw new CredentialsError(`credentials entry ${where} is not an object`, { where: file });
  if (value.drayKeychain === true) return { kind: "keychain" };
  let username = typeof value.username === "string" ? value.username : "";
  let password = typeof value.password === "string" ? value.password : "";
  if (typeof value.auth === "string" && value.auth !== "") {
    const decoded = decodeBase64Strict(value.auth);
    const colon = decoded?.indexOf(":") ?? -1;
    if (decoded === undefined || colon < 0)
      throw new CredentialsError(`credentials entry ${where}: "auth" is not base64 of user:password`, { where: file });
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  if (typeof value.identitytoken === "string" && value.identitytoken !== "") {
    return { kind: "identity-token", username, token: value.identitytoken };
  }
  if (username === "" && password === "") return { kind: "empty" };
  return { kind: "basic", username, password };
}

function decodeBase64Strict(text: string): string | undefined {
  const clean = text.trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) return undefined;
  return Buffer.from(clean, "base64").toString("utf8");
}

/** The helper name for a host: a `credHelpers` entry, else undefined. */
export function credHelperFor(file: AuthFile, host: string): string | undefined {
  const key = findKey(file.credHelpers, host, undefined, true);
  return key === undefined ? undefined : file.credHelpers.get(key);
}

/** What docker hands a credential helper on stdin for a registry. */
export function helperServerURL(host: string): string {
  return canonicalRegistryHost(host) === DOCKER_IO ? DOCKER_HUB_LEGACY_KEY : host;
}
