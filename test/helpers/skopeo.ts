// skopeo 1.9 as an independent peer: what dray writes, skopeo must read, and
// the reverse. Every call runs isolated: its own TMPDIR, HOME, auth file,
// policy, registries.conf and registries.d in a fresh folder removed after
// the call, so no global or earlier state changes a result.
//
// Not isolated: as root, skopeo's blob-info cache lives in
// /var/lib/containers/cache and has no override. It only remembers where a
// blob was seen (registry host + repo) and compressed/uncompressed pairs; each
// test registry has its own port and fresh storage, so a stale entry at worst
// makes skopeo try a mount that fails and then upload.
import { execFile } from "node:child_process";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireTool } from "./registry.js";

export interface SkopeoOptions {
  /** `USER:PASS`: given as `--creds` (single-image commands). For copy use srcCreds/destCreds. */
  creds?: string;
  /** For docker:// locations: false adds `--tls-verify=false` (inspect, list-tags, delete). */
  tlsVerify?: boolean;
  /** A folder with `ca.crt` (RegistryHandle.certDir): adds `--cert-dir`, and TLS is then verified. */
  certDir?: string;
  /** Contents of the isolated auth.json (`{ auths: { HOST: { auth } } }`); empty by default. */
  authFile?: Record<string, unknown>;
  /** Extra environment. */
  env?: Record<string, string>;
  /** Kills skopeo after this long (default 120 s). */
  timeoutMs?: number;
}

export interface SkopeoResult {
  code: number;
  stdout: string;
  /** stdout as bytes, for byte-exact comparisons (`inspect --raw`). */
  stdoutBytes: Buffer;
  stderr: string;
  /** The full command line, for assertion messages. */
  command: string;
}

const POLICY = { default: [{ type: "insecureAcceptAnything" }] };

/** An `auth.json` entry for HOST with USER:PASS, for SkopeoOptions.authFile. */
export function authFileFor(host: string, username: string, password: string): Record<string, unknown> {
  return { auths: { [host]: { auth: Buffer.from(`${username}:${password}`).toString("base64") } } };
}

async function sandbox(opts: SkopeoOptions): Promise<{ dir: string; globals: string[]; env: NodeJS.ProcessEnv }> {
  const dir = await mkdtemp(join(tmpdir(), "dray-skopeo-"));
  const tmp = join(dir, "tmp");
  const home = join(dir, "home");
  const regd = join(dir, "registries.d");
  await Promise.all([mkdir(tmp), mkdir(home), mkdir(regd)]);
  const policy = join(dir, "policy.json");
  const authFile = join(dir, "auth.json");
  const registriesConf = join(dir, "registries.conf");
  await writeFile(policy, JSON.stringify(POLICY));
  await writeFile(authFile, JSON.stringify(opts.authFile ?? { auths: {} }));
  await writeFile(registriesConf, "unqualified-search-registries = []\n");
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    TMPDIR: tmp,
    XDG_RUNTIME_DIR: dir,
    XDG_CONFIG_HOME: join(home, ".config"),
    DOCKER_CONFIG: join(home, ".docker"),
    REGISTRY_AUTH_FILE: authFile,
    CONTAINERS_REGISTRIES_CONF: registriesConf,
    ...opts.env,
  };
  return { dir, globals: ["--policy", policy, "--registries.d", regd, "--tmpdir", tmp], env };
}

/** Is `loc` a docker:// location on loopback (where TLS verification must be off unless asked)? */
function isLoopbackDocker(loc: string): boolean {
  return /^docker:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])[:/]/.test(loc);
}

/** Runs `skopeo [isolation globals] ARGS…`; never throws for a non-zero exit (look at `code`). */
export async function skopeo(args: string[], opts: SkopeoOptions = {}): Promise<SkopeoResult> {
  requireTool("skopeo");
  const box = await sandbox(opts);
  const sub = args[0];
  const rest = args.slice(1);
  const extra: string[] = [];
  if (opts.creds !== undefined) extra.push("--creds", opts.creds);
  if (opts.tlsVerify !== undefined) extra.push(`--tls-verify=${opts.tlsVerify}`);
  if (opts.certDir !== undefined) extra.push("--cert-dir", opts.certDir);
  const full = sub === undefined ? box.globals : [...box.globals, sub, ...extra, ...rest];
  try {
    return await new Promise<SkopeoResult>((resolve, reject) => {
      execFile(
        "skopeo",
        full,
        { env: box.env, encoding: "buffer", maxBuffer: 256 * 1024 * 1024, timeout: opts.timeoutMs ?? 120_000 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
          if (err && typeof err.code !== "number" && !err.killed && err.signal === null) {
            reject(err as Error);
            return;
          }
          resolve({
            code,
            stdout: stdout.toString("utf8"),
            stdoutBytes: stdout,
            stderr: stderr.toString("utf8"),
            command: `skopeo ${[sub, ...extra.map((a, i) => (extra[i - 1] === "--creds" ? "***" : a)), ...rest].join(" ")}`,
          });
        },
      );
    });
  } finally {
    await rm(box.dir, { recursive: true, force: true });
  }
}

/** Throws with skopeo's stderr when it failed. */
export function assertSkopeoOk(r: SkopeoResult): SkopeoResult {
  if (r.code !== 0) throw new Error(`${r.command} exited ${r.code}:\n${r.stderr}`);
  return r;
}

/** `skopeo inspect --raw LOC`: the manifest bytes exactly as stored. Throws on failure. */
export async function skopeoInspectRaw(loc: string, opts: SkopeoOptions = {}): Promise<Buffer> {
  const tls = opts.tlsVerify === undefined && opts.certDir === undefined && isLoopbackDocker(loc) ? { tlsVerify: false } : {};
  return assertSkopeoOk(await skopeo(["inspect", "--raw", loc], { ...tls, ...opts })).stdoutBytes;
}

/** `skopeo inspect LOC` (or `--config`): the parsed JSON. Throws on failure. */
export async function skopeoInspect(loc: string, opts: SkopeoOptions & { config?: boolean } = {}): Promise<Record<string, unknown>> {
  const tls = opts.tlsVerify === undefined && opts.certDir === undefined && isLoopbackDocker(loc) ? { tlsVerify: false } : {};
  const args = opts.config ? ["inspect", "--config", loc] : ["inspect", loc];
  return JSON.parse(assertSkopeoOk(await skopeo(args, { ...tls, ...opts })).stdout) as Record<string, unknown>;
}

export interface SkopeoCopyOptions extends Omit<SkopeoOptions, "creds" | "tlsVerify"> {
  srcCreds?: string;
  destCreds?: string;
  /** Folders with `ca.crt` to trust for a TLS registry (then TLS is verified for that side). */
  srcCertDir?: string;
  destCertDir?: string;
}

/**
 * `skopeo copy SRC DST`, with `--src-tls-verify=false` / `--dest-tls-verify=false`
 * for docker:// locations on loopback unless a cert dir is given or
 * extraArgs set it. `--all --preserve-digests` are typical extraArgs for an
 * index. Returns the result; use assertSkopeoOk to require success.
 */
export async function skopeoCopy(src: string, dst: string, extraArgs: string[] = [], opts: SkopeoCopyOptions = {}): Promise<SkopeoResult> {
  const args = ["copy", "--quiet"];
  const mentions = (flag: string): boolean => extraArgs.some((a) => a.startsWith(flag));
  if (opts.srcCertDir) args.push("--src-cert-dir", opts.srcCertDir);
  else if (isLoopbackDocker(src) && !mentions("--src-tls-verify")) args.push("--src-tls-verify=false");
  if (opts.destCertDir) args.push("--dest-cert-dir", opts.destCertDir);
  else if (isLoopbackDocker(dst) && !mentions("--dest-tls-verify")) args.push("--dest-tls-verify=false");
  if (opts.srcCreds !== undefined) args.push("--src-creds", opts.srcCreds);
  if (opts.destCreds !== undefined) args.push("--dest-creds", opts.destCreds);
  const r = await skopeo([...args, ...extraArgs, src, dst], opts);
  // Keep passwords out of assertion messages.
  let command = r.command;
  for (const c of [opts.srcCreds, opts.destCreds]) if (c) command = command.split(c).join("***");
  return { ...r, command };
}
