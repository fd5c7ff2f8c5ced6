import { homedir } from "node:os";
import { join } from "node:path";
import { KeychainError } from "../errors.js";
import {
  canonicalRegistryHost,
  credHelperFor,
  findKey,
  helperServerURL,
  parseAuthEntry,
  readAuthFile,
  type AuthEntry,
  type AuthFile,
} from "./authfile.js";
import { runCredentialHelper, type HelperCredential } from "./helper.js";

/** A user name and password (or token) for one registry. */
export interface Credentials {
  username: string;
  password: string;
}

/**
 * Where a registry credential comes from, in this order (README, "Logging in"):
 *   1. explicit (`--creds`, `--src-creds`, `--dest-creds`);
 *   2. `--authfile`, `$REGISTRY_AUTH_FILE`, containers auth.json
 *      (`$XDG_RUNTIME_DIR/containers/auth.json`, `~/.config/containers/auth.json`);
 *   3. docker config.json (`$DOCKER_CONFIG` or `~/.docker`): credHelpers,
 *      auths (auth / username+password / identitytoken), credsStore;
 *   4. the OS keychain, when the docker entry carries `{"drayKeychain": true}`;
 *   5. anonymous (undefined).
 * The first source that has an entry for the registry decides; a source that
 * fails (a helper error, a malformed file) is an error, not a skip.
 */
export interface RegistryCredential extends Credentials {
  /** OAuth2 refresh token (docker `identitytoken`): traded at the token realm instead of the password. */
  identityToken?: string;
  /** Where it came from, for messages: a file path, a helper name, `--creds`. Never the secret. */
  source: string;
}

export interface CredentialLookup {
  /** Registry domain as in the reference (`127.0.0.1:5000`, `docker.io`). */
  domain: string;
  /** Repository path, for containers auth.json keys scoped to a namespace. */
  repoPath?: string;
  creds?: Credentials;
  /** How messages name `creds` (default `--creds`): the flag it came from, or the caller's own words. */
  credsSource?: string;
  authFile?: string;
  /** Environment to read (default process.env); tests pass their own. */
  env?: NodeJS.ProcessEnv;
  /** Timeout for credential helpers. */
  helperTimeoutMs?: number;
}

/** The containers auth files to try, in order. */
export function containersAuthFiles(lookup: Pick<CredentialLookup, "authFile" | "env">): string[] {
  const env = lookup.env ?? process.env;
  const files: string[] = [];
  if (lookup.authFile) files.push(lookup.authFile);
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) files.push(join(env.XDG_RUNTIME_DIR, "containers", "auth.json"));
  files.push(join(env.XDG_CONFIG_HOME || join(homeOf(env), ".config"), "containers", "auth.json"));
  return [...new Set(files)];
}

/** docker's config.json location: `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`. */
export function dockerConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG || join(homeOf(env), ".docker"), "config.json");
}

function homeOf(env: NodeJS.ProcessEnv): string {
  return env.HOME || homedir();
}

/** Finds the credential for a registry, or undefined for anonymous access. */
export async function resolveCredentials(lookup: CredentialLookup): Promise<RegistryCredential | undefined> {
  if (lookup.creds) return { ...lookup.creds, source: lookup.credsSource ?? "--creds" };
  const host = canonicalRegistryHost(lookup.domain);
  const named = new Set([lookup.authFile, (lookup.env ?? process.env).REGISTRY_AUTH_FILE].filter((p) => !!p));
  for (const path of containersAuthFiles(lookup)) {
    const file = await readAuthFile(path, named.has(path));
    if (!file) continue;
    const found = await fromFile(file, host, lookup, "containers");
    if (found !== "none") return found;
  }
  const docker = await readAuthFile(dockerConfigFile(lookup.env));
  if (docker) {
    const found = await fromFile(docker, host, lookup, "docker");
    if (found !== "none") return found;
  }
  return undefined;
}

/**
 * What one file says: a credential, undefined (the file speaks for the host
 * but has no secret, e.g. a helper that knows nothing: anonymous), or "none"
 * (the file does not mention the host: try the next source).
 */
async function fromFile(
  file: AuthFile,
  host: string,
  lookup: CredentialLookup,
  flavour: "containers" | "docker",
): Promise<RegistryCredential | undefined | "none"> {
  const helper = credHelperFor(file, host);
  if (helper) return fromHelper(helper, host, lookup);
  // Only containers honours `host/namespace` keys; docker matches by host alone.
  const key = flavour === "containers" ? findKey(file.auths, host, lookup.repoPath) : findKey(file.auths, host, undefined, true);
  const entry: AuthEntry | undefined = key === undefined ? undefined : parseAuthEntry(file.auths.get(key), file.path, key);
  if (entry?.kind === "basic") return { username: entry.username, password: entry.password, source: file.path };
  if (entry?.kind === "identity-token") {
    return { username: entry.username, password: "", identityToken: entry.token, source: file.path };
  }
  if (entry?.kind === "keychain") return fromKeychain(host);
  // credsStore is docker's default store for every host without an inline secret.
  if (flavour === "docker" && file.credsStore) return fromHelper(file.credsStore, host, lookup);
  return entry === undefined ? "none" : undefined;
}

async function fromHelper(name: string, host: string, lookup: CredentialLookup): Promise<RegistryCredential | undefined> {
  const got: HelperCredential | undefined = await runCredentialHelper(name, helperServerURL(host), lookup.helperTimeoutMs, lookup.env);
  if (!got) return undefined;
  const source = `docker-credential-${name}`;
  if (got.isIdentityToken) return { username: "", password: "", identityToken: got.secret, source };
  return { username: got.username, password: got.secret, source };
}

async function fromKeychain(host: string): Promise<RegistryCredential | undefined> {
  // Loaded only when an entry points at the keychain: keychain.ts pulls in the optional native addon.
  let mod: typeof import("./keychain.js");
  try {
    mod = await import("./keychain.js");
  } catch (err) {
    throw new KeychainError(
      `credentials for ${host} are in the OS keychain, but keychain support could not be loaded: ${(err as Error).message}`,
      {
        where: host,
        cause: err,
      },
    );
  }
  const creds = await mod.readKeychainCredential(host);
  return creds ? { username: creds.username, password: creds.password, source: "the OS keychain" } : undefined;
}
