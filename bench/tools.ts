// How each contender is invoked, the way a user would from a shell: dray as
// `node bin/dray.cjs …` (what the `dray` bin shim runs), skopeo with its
// global state isolated the way test/helpers/skopeo.ts isolates it (own
// policy, registries.conf, auth file, HOME and TMPDIR) so nothing outside
// the bench changes its behaviour.
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "./measure.js";

/** skopeo's blob-info cache as root; it has no override, and it makes skopeo try mounts from earlier runs. */
export const SKOPEO_BLOB_INFO_CACHE = "/var/lib/containers/cache/blob-info-cache-v1.boltdb";

export interface Tools {
  /** Environment for every child: isolated HOME, TMPDIR, auth and registries configuration. */
  env: NodeJS.ProcessEnv;
  dray(args: string[]): Command;
  skopeo(args: string[]): Command;
  node(args: string[]): Command;
  /** The single executable, when built (npm run build:exe). */
  exe: ((args: string[]) => Command) | undefined;
  sh(script: string): Command;
}

const isDocker = (loc: string): boolean => loc.startsWith("docker://");

/** Prepares the sandbox under `dir` and returns the command builders. */
export async function makeTools(dir: string, drayBin: string, exeBin?: string): Promise<Tools> {
  const home = join(dir, "home");
  const tmp = join(dir, "tmp");
  const regd = join(dir, "registries.d");
  await Promise.all([mkdir(home, { recursive: true }), mkdir(tmp, { recursive: true }), mkdir(regd, { recursive: true })]);
  const policy = join(dir, "policy.json");
  const authFile = join(dir, "auth.json");
  const registriesConf = join(dir, "registries.conf");
  await writeFile(policy, JSON.stringify({ default: [{ type: "insecureAcceptAnything" }] }));
  await writeFile(authFile, JSON.stringify({ auths: {} }));
  await writeFile(registriesConf, "unqualified-search-registries = []\n");
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: home,
    TMPDIR: tmp,
    XDG_RUNTIME_DIR: dir,
    XDG_CONFIG_HOME: join(home, ".config"),
    DOCKER_CONFIG: join(home, ".docker"),
    REGISTRY_AUTH_FILE: authFile,
    CONTAINERS_REGISTRIES_CONF: registriesConf,
    NO_COLOR: "1",
  };
  const skopeoGlobals = ["--policy", policy, "--registries.d", regd, "--tmpdir", tmp];
  return {
    env,
    dray: (args) => ({ file: process.execPath, args: [drayBin, ...args] }),
    skopeo: (args) => ({ file: "skopeo", args: [...skopeoGlobals, ...args] }),
    node: (args) => ({ file: process.execPath, args }),
    exe: exeBin ? (args) => ({ file: exeBin, args }) : undefined,
    sh: (script) => ({ file: "/bin/sh", args: ["-c", script] }),
  };
}

/** `dray copy -q SRC DST` (quiet, as skopeo gets --quiet). */
export function drayCopy(tools: Tools, src: string, dst: string): Command {
  return tools.dray(["copy", "-q", src, dst]);
}

/** `skopeo copy --quiet [--all] SRC DST`, TLS verification off for the loopback registries (plain HTTP). */
export function skopeoCopy(tools: Tools, src: string, dst: string, extra: string[] = []): Command {
  const args = ["copy", "--quiet"];
  if (isDocker(src)) args.push("--src-tls-verify=false");
  if (isDocker(dst)) args.push("--dest-tls-verify=false");
  return tools.skopeo([...args, ...extra, src, dst]);
}

export function skopeoInspect(tools: Tools, loc: string, raw: boolean): Command {
  return tools.skopeo(["inspect", ...(raw ? ["--raw"] : []), "--tls-verify=false", loc]);
}

export async function dropSkopeoCache(): Promise<void> {
  await rm(SKOPEO_BLOB_INFO_CACHE, { force: true });
}
