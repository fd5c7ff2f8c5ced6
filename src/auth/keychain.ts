import { createRequire } from "node:module";
import { KeychainError } from "../errors.js";
import type { Credentials } from "./credentials.js";

/**
 * The OS keychain (macOS Keychain, Windows Credential Vault, the freedesktop
 * Secret Service on Linux) through `@github/keytar`, an optional dependency.
 * It is imported only here, and only when `dray login --keychain` runs or a
 * credential look-up finds the `{"drayKeychain": true}` marker in docker's
 * config.json, so a machine without libsecret runs everything else.
 *
 * Each registry is one keychain item: service `dray:HOST`, account = the user
 * name, secret = the password. `secret-tool lookup service dray:HOST account USER`
 * shows it on Linux.
 */

interface Keytar {
  getPassword(service: string, account: string): Promise<string | null>;
  setPassword(service: string, account: string, password: string): Promise<void>;
  deletePassword(service: string, account: string): Promise<boolean>;
  findCredentials(service: string): Promise<Array<{ account: string; password: string }>>;
}

const SERVICE_PREFIX = "dray:";

/** Whether this process is dray's single executable (npm run build:exe), which carries no native addon. */
function isSingleExecutable(): boolean {
  try {
    return (createRequire(import.meta.url)("node:sea") as { isSea(): boolean }).isSea();
  } catch {
    return false; // a Node without node:sea runs no single executable
  }
}

/** What a user should install, per platform, when the addon or its service is missing. */
function installHint(): string {
  if (isSingleExecutable()) {
    return "the single executable carries no keychain module: log in without --keychain (a credential file or helper), or use dray installed with npm";
  }
  if (process.platform === "linux") {
    return "install libsecret-1-0 and a Secret Service provider such as gnome-keyring (Debian/Ubuntu: apt-get install libsecret-1-0 gnome-keyring) and run inside a desktop or D-Bus session";
  }
  return "reinstall dray with its optional dependency @github/keytar (npm install --include=optional)";
}

let loaded: Promise<Keytar> | undefined;

async function importKeytar(): Promise<Keytar> {
  try {
    // keytar is CommonJS with a native addon: require() it. (Also what works in
    // the bundled CLI, which runs as a vm.Script where import() has no loader.)
    // A variable specifier keeps TypeScript and the bundler from resolving the optional package at build time.
    const name = "@github/keytar";
    const mod = createRequire(import.meta.url)(name) as Keytar & { default?: Keytar };
    const api = mod.default ?? mod;
    if (typeof api.setPassword !== "function") throw new Error("unexpected module shape");
    return api;
  } catch (err) {
    throw new KeychainError(`the OS keychain is not available: @github/keytar could not be loaded (${firstLine(err)}); ${installHint()}`, {
      cause: err,
    });
  }
}

function keytar(): Promise<Keytar> {
  loaded ??= importKeytar();
  loaded.catch(() => {
    loaded = undefined; // a later call may succeed, e.g. after installing the library in a long-lived process
  });
  return loaded;
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split("\n")[0] ?? text;
}

/** Turns a keytar failure into a message that says what is missing. */
function serviceError(what: string, err: unknown): KeychainError {
  const detail = firstLine(err);
  if (/D-Bus|DBus|org\.freedesktop\.secrets|Secret Service|\$DISPLAY|not provided by any \.service/i.test(detail)) {
    return new KeychainError(`${what}: no Secret Service answered on D-Bus (${detail}); ${installHint()}`, { cause: err });
  }
  return new KeychainError(`${what}: ${detail}`, { cause: err });
}

/**
 * The name a host is filed under: docker.io's historical aliases collapse to
 * `docker.io`, a URL form (`https://HOST/v1/`, as docker config.json keys
 * sometimes are) to its host, all lowercased.
 */
export function keychainHost(host: string): string {
  let h = host.trim().toLowerCase();
  const url = /^[a-z]+:\/\/([^/]+)/.exec(h);
  if (url) h = url[1]!;
  h = h.replace(/\/.*$/, "");
  if (h === "index.docker.io" || h === "registry-1.docker.io" || h === "registry.hub.docker.com") h = "docker.io";
  return h;
}

export function keychainService(host: string): string {
  return `${SERVICE_PREFIX}${keychainHost(host)}`;
}

/**
 * The credential stored by `dray login --keychain HOST`, or undefined when the
 * keychain holds none. Throws KeychainError (E_KEYCHAIN) when the keychain
 * itself is unavailable, so a missing secret and a missing keychain differ.
 */
export async function readKeychainCredential(host: string): Promise<Credentials | undefined> {
  const kt = await keytar();
  let found: Array<{ account: string; password: string }>;
  try {
    found = await kt.findCredentials(keychainService(host));
  } catch (err) {
    throw serviceError(`cannot read the credential for ${keychainHost(host)} from the OS keychain`, err);
  }
  const first = found[0];
  return first ? { username: first.account, password: first.password } : undefined;
}

/**
 * Stores `creds` for `host`, replacing any other account filed for the same
 * host (one login per registry, as docker keeps it).
 */
export async function storeKeychainCredential(host: string, creds: Credentials): Promise<void> {
  const kt = await keytar();
  const service = keychainService(host);
  try {
    await kt.setPassword(service, creds.username, creds.password);
    for (const other of await kt.findCredentials(service)) {
      if (other.account !== creds.username) await kt.deletePassword(service, other.account);
    }
  } catch (err) {
    throw serviceError(`cannot store the credential for ${keychainHost(host)} in the OS keychain`, err);
  }
}

/** Removes every credential filed for `host`; resolves to how many were removed. */
export async function deleteKeychainCredential(host: string): Promise<number> {
  const kt = await keytar();
  const service = keychainService(host);
  try {
    let removed = 0;
    for (const c of await kt.findCredentials(service)) {
      if (await kt.deletePassword(service, c.account)) removed++;
    }
    return removed;
  } catch (err) {
    throw serviceError(`cannot remove the credential for ${keychainHost(host)} from the OS keychain`, err);
  }
}
