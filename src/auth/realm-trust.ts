import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, unlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { CredentialsError, IoError, fsReason } from "../errors.js";
import { canonicalRegistryHost } from "./authfile.js";
import { dockerConfigFile } from "./credentials.js";

/**
 * Token realms the user trusted with `dray login --trust-realm HOST R`,
 * recorded so later runs need no flag. They live in a file of dray's own
 * beside docker's config.json (`dray-trusted-realms.json`, same folder, so
 * $DOCKER_CONFIG scopes both alike), not inside it: the docker CLI reads
 * config.json into a fixed structure and writes that back on its next
 * `docker login`, which would silently drop a key it does not know, and
 * skopeo/podman never look at this file either.
 *
 *   { "trustedRealms": { "registry.example.com": ["auth.example.net"] } }
 */

type TrustFile = { trustedRealms: Record<string, string[]> };

export function trustFilePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(dirname(dockerConfigFile(env)), "dray-trusted-realms.json");
}

async function readTrustFile(path: string): Promise<TrustFile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { trustedRealms: {} };
    throw new IoError(`cannot read ${path}: ${fsReason(err)}`, { where: path, cause: err });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new CredentialsError(`${path} is not valid JSON; fix or remove it`, { where: path });
  }
  const realms = (doc as { trustedRealms?: unknown } | null)?.trustedRealms;
  const out: TrustFile = { trustedRealms: {} };
  if (typeof realms !== "object" || realms === null || Array.isArray(realms)) return out;
  for (const [registry, list] of Object.entries(realms)) {
    if (Array.isArray(list)) out.trustedRealms[registry] = list.filter((h): h is string => typeof h === "string");
  }
  return out;
}

/** Realm hosts recorded as trusted for `registry` (none when the file is missing). */
export async function recordedTrustedRealms(registry: string, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const file = await readTrustFile(trustFilePath(env));
  return file.trustedRealms[canonicalRegistryHost(registry)] ?? [];
}

/** Replaces what is recorded for `registry` (an empty list removes it); written atomically, mode 0600. */
export async function recordTrustedRealms(
  registry: string,
  realms: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const path = trustFilePath(env);
  const file = await readTrustFile(path);
  const key = canonicalRegistryHost(registry);
  if (realms.length === 0) delete file.trustedRealms[key];
  else file.trustedRealms[key] = [...new Set(realms.map((r) => r.trim().toLowerCase()))];
  const dir = dirname(path);
  const tmp = join(dir, `.dray-trusted-realms.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const fh = await open(tmp, "wx", 0o600);
    try {
      await fh.writeFile(`${JSON.stringify(file, null, "\t")}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new IoError(`cannot write ${path}: ${fsReason(err)}`, { where: path, cause: err });
  }
  return path;
}
