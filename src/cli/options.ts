import { readFileSync, readSync } from "node:fs";
import { InvalidArgumentError, type Command } from "commander";
import type { LayerCompression } from "../oci/mediatype.js";
import { checkLevel } from "../oci/compression.js";
import type { ManifestFormat } from "../copy/convert.js";
import { UsageError, whyUnreadable } from "../errors.js";
import { authFileProblem } from "../auth/authfile.js";
import { invalidTrustRealm } from "../auth/trust-realm-syntax.js";
import type { CliContext } from "./context.js";
import { caFileProblem } from "../transport/ca-file.js";
import type { Credentials, TransportOptions } from "../transport/types.js";
import type { TrustFlags } from "../signature/policy.js";
import type { PasswordSource } from "../signature/signing-key.js";
import { defined } from "../defined.js";

/**
 * Options several commands share, declared and interpreted in one place:
 * credentials, TLS, retries, repeatable `--platform`, counts. Only commander
 * and types are imported here, so declaring a command stays cheap (`dray
 * --version` must not load the transports).
 */

/** What commander hands an action for the options `addTransportOptions` declares. */
export interface TransportFlags {
  /** `--force` (commands that write an image): an archive destination may replace a file that is not an archive. */
  force?: boolean;
  /** A string from `--creds`, false from `--no-creds` (commander's negation of the same option). */
  creds?: string | false;
  srcCreds?: string;
  destCreds?: string;
  credsFile?: string;
  srcCredsFile?: string;
  destCredsFile?: string;
  registryToken?: string;
  srcRegistryToken?: string;
  destRegistryToken?: string;
  srcNoCreds?: boolean;
  destNoCreds?: boolean;
  authfile?: string;
  trustRealm?: string[];
  insecure?: boolean;
  srcInsecure?: boolean;
  destInsecure?: boolean;
  caFile?: string;
  srcCaFile?: string;
  destCaFile?: string;
  certDir?: string;
  srcCertDir?: string;
  destCertDir?: string;
  clientCert?: string;
  srcClientCert?: string;
  destClientCert?: string;
  clientKey?: string;
  srcClientKey?: string;
  destClientKey?: string;
  registriesConf?: string;
  retries?: number;
}

export interface TransportOptionsDeclaration {
  /** The command has a source and a destination: adds the `--src-…` and `--dest-…` forms beside each option. */
  twoSided?: boolean;
}

/** The options that come per side on a two-sided command, with their help. */
const SIDED_OPTIONS: readonly { flag: string; arg?: string; help: string }[] = [
  { flag: "creds", arg: "<user:pass>", help: "credentials (visible to other local users in ps: prefer --creds-file or DRAY_CREDS)" },
  { flag: "creds-file", arg: "<file>", help: "read USER:PASS, or a bearer token, from FILE (- for standard input)" },
  {
    flag: "registry-token",
    arg: "<token>",
    help: "a bearer token obtained elsewhere, sent as is (visible in ps: prefer DRAY_REGISTRY_TOKEN)",
  },
  { flag: "no-creds", help: "anonymous, even when a credential is stored" },
  { flag: "insecure", help: "allow plain HTTP and unverified TLS for non-loopback registries" },
  { flag: "ca-file", arg: "<file>", help: "extra CA certificates (PEM) to trust" },
  { flag: "cert-dir", arg: "<dir>", help: "containers-certs.d folder: *.crt CAs, NAME.cert + NAME.key client pair" },
  { flag: "client-cert", arg: "<file>", help: "client certificate (PEM) for registries that ask for one" },
  { flag: "client-key", arg: "<file>", help: "the client certificate's key (PEM)" },
];

/** Declares credentials, TLS, `--authfile`, `--trust-realm`, `--retries` on `cmd` (per side too on a two-sided command). */
export function addTransportOptions(cmd: Command, decl: TransportOptionsDeclaration = {}): Command {
  for (const o of SIDED_OPTIONS) {
    const spec = (prefix: string): string => `--${prefix}${o.flag}${o.arg ? ` ${o.arg}` : ""}`;
    cmd.option(spec(""), decl.twoSided ? `${o.help} (both sides)` : o.help);
    if (decl.twoSided) {
      cmd.option(spec("src-"), `${o.help.split(" (")[0]!} for the source`);
      cmd.option(spec("dest-"), `${o.help.split(" (")[0]!} for the destination`);
    }
  }
  return cmd
    .option("--authfile <file>", "containers auth.json to read credentials from first")
    .option("--trust-realm <host>", "a token service on an unrelated site that may receive the credential (repeatable)", collectTrustRealm)
    .option("--registries-conf <file>", "containers-registries.conf v2 file: mirrors and blocked registries for reads")
    .option("--retries <n>", "retries for transient failures (default 3)", parseCount("--retries", 0));
}

/** Parses `USER:PASS` at the first colon (a password may hold colons); never echoes the text (it holds a secret). */
export function parseCredentials(text: string, flag = "--creds"): Credentials {
  const colon = text.indexOf(":");
  if (colon <= 0) throw new UsageError(`${flag} expects USER:PASS`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

export type Side = "src" | "dest";

/** The environment variables that carry a credential, most specific first (README "Credentials"). */
export const CREDENTIAL_ENV = {
  creds: { src: "DRAY_SRC_CREDS", dest: "DRAY_DEST_CREDS", both: "DRAY_CREDS" },
  token: { src: "DRAY_SRC_REGISTRY_TOKEN", dest: "DRAY_DEST_REGISTRY_TOKEN", both: "DRAY_REGISTRY_TOKEN" },
} as const;

/** A secret and where it came from; a token when it holds no colon (`--creds-file`). */
type Secret = { creds: Credentials; source: string } | { token: string; source: string } | { anonymous: true; source: string };

/**
 * Standard input read whole, synchronously. Node makes a piped stdin
 * non-blocking once anything touched `process.stdin` (a TTY check), and
 * readFileSync(0) then fails with EAGAIN while the writer has not written
 * yet: wait a little and read again.
 */
function readStdinSync(): string {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(64 * 1024);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") {
        Atomics.wait(pause, 0, 0, 20);
        continue;
      }
      if (code === "EOF") break;
      throw err;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** One read of standard input per process: both sides may name `--creds-file -`. */
let stdinSecret: string | undefined;

/**
 * Where an encrypted signing key's password comes from: standard input
 * (`--key-password-stdin`, one line, its newline dropped), else
 * DRAY_KEY_PASSWORD or COSIGN_PASSWORD; asked only when the key is encrypted,
 * never prompted for and never taken from argv.
 */
export function keyPasswordSource(
  fromStdin: boolean | undefined,
  flags: Pick<TransportFlags, "credsFile" | "srcCredsFile" | "destCredsFile"> = {},
  flag = "--key-password-stdin",
): PasswordSource {
  // Standard input is read once: it cannot carry a credential and the key's password both.
  const creds = [flags.credsFile, flags.srcCredsFile, flags.destCredsFile].includes("-");
  if (fromStdin && creds) throw new UsageError(`${flag} and --creds-file - both read standard input: give the credential as a file`);
  return () => {
    if (!fromStdin) return process.env.DRAY_KEY_PASSWORD ?? process.env.COSIGN_PASSWORD;
    if (process.stdin.isTTY) throw new UsageError(`${flag} reads standard input: pipe the password in (it is never prompted for)`);
    stdinSecret ??= readStdinSync();
    return stdinSecret.replace(/\r?\n$/, "");
  };
}

/** Each `--creds-file` read, by path. */
const secretFiles = new Map<string, string>();

function readSecretFile(file: string, flag: string): string {
  let text: string;
  if (file === "-") {
    if (process.stdin.isTTY) throw new UsageError(`${flag} - reads standard input: pipe the credential in (it is never prompted for)`);
    stdinSecret ??= readStdinSync();
    text = stdinSecret;
  } else {
    try {
      // Once per run: both sides ask for `--creds-file`, and a pipe (`<(pass show …)`) is empty the second time.
      text = secretFiles.get(file) ?? readFileSync(file, "utf8");
      secretFiles.set(file, text);
    } catch (err) {
      throw new UsageError(`${flag} ${file} ${whyUnreadable(err)}`, { where: file });
    }
  }
  const line = text.replace(/\r?\n$/, "");
  if (line === "" || /[\r\n]/.test(line))
    throw new UsageError(`${flag} ${file === "-" ? "(standard input)" : file} must hold one line: USER:PASS or a token`);
  return line;
}

function checkToken(token: string, from: string): string {
  if (!/^[\x21-\x7e]+$/.test(token)) throw new UsageError(`${from}: a registry token is one word of visible ASCII`);
  return token;
}

/** The secret given at one level (a side's flags, or the both-sides flags); more than one form there is a usage error. */
function secretAt(flags: TransportFlags, side: Side | undefined): Secret | undefined {
  const name = (f: string): string => `--${side ? `${side}-` : ""}${f}`;
  const pick = <K extends keyof TransportFlags>(both: K, src: K, dest: K): TransportFlags[K] =>
    flags[side === "src" ? src : side === "dest" ? dest : both];
  const found: Secret[] = [];
  const creds = pick("creds", "srcCreds", "destCreds");
  if (typeof creds === "string") found.push({ creds: parseCredentials(creds, name("creds")), source: name("creds") });
  const file = pick("credsFile", "srcCredsFile", "destCredsFile");
  if (file !== undefined) {
    const text = readSecretFile(file, name("creds-file"));
    found.push(
      text.includes(":")
        ? { creds: parseCredentials(text, name("creds-file")), source: name("creds-file") }
        : { token: checkToken(text, name("creds-file")), source: name("creds-file") },
    );
  }
  const token = pick("registryToken", "srcRegistryToken", "destRegistryToken");
  if (token !== undefined) found.push({ token: checkToken(token, name("registry-token")), source: name("registry-token") });
  const none = side === undefined ? flags.creds === false : side === "src" ? flags.srcNoCreds === true : flags.destNoCreds === true;
  if (none) found.push({ anonymous: true, source: name("no-creds") });
  if (found.length > 1) throw new UsageError(`${found.map((f) => f.source).join(" and ")} both say what to authenticate with: give one`);
  return found[0];
}

function secretFromEnv(env: NodeJS.ProcessEnv, key: "src" | "dest" | "both"): Secret | undefined {
  const credsVar = CREDENTIAL_ENV.creds[key];
  const tokenVar = CREDENTIAL_ENV.token[key];
  const creds = env[credsVar];
  const token = env[tokenVar];
  if (creds && token) throw new UsageError(`${credsVar} and ${tokenVar} are both set: unset one`);
  if (creds) return { creds: parseCredentials(creds, credsVar), source: credsVar };
  if (token) return { token: checkToken(token, tokenVar), source: tokenVar };
  return undefined;
}

/** The explicit secret for a side: its own flags, the both-sides flags, its own variable, the both-sides variable. */
function explicitSecret(flags: TransportFlags, side: Side | undefined, env: NodeJS.ProcessEnv): Secret | undefined {
  return (
    (side ? secretAt(flags, side) : undefined) ??
    secretAt(flags, undefined) ??
    (side ? secretFromEnv(env, side) : undefined) ??
    secretFromEnv(env, "both")
  );
}

/**
 * The TransportOptions for one location. For a side, its own flags win over
 * the both-sides ones (`--src-creds` over `--creds`, `--dest-ca-file` over
 * `--ca-file`), so one side's `--src-insecure` never weakens the other's.
 * Debug lines and notices go to stderr.
 */
export function transportOptions(
  flags: TransportFlags,
  ctx: CliContext,
  side?: Side,
  env: NodeJS.ProcessEnv = process.env,
): TransportOptions {
  const opts: TransportOptions = { notice: (m) => ctx.message(`dray: ${m}`) };
  const secret = explicitSecret(flags, side, env);
  if (secret && "creds" in secret) {
    opts.creds = secret.creds;
    opts.credsSource = secret.source;
  } else if (secret && "token" in secret) opts.registryToken = secret.token;
  else if (secret) opts.noCreds = true;
  const sided = <K extends keyof TransportFlags>(both: K, src: K, dest: K): TransportFlags[K] =>
    (side === "src" ? flags[src] : side === "dest" ? flags[dest] : undefined) ?? flags[both];
  checkAuthFile("--authfile", flags.authfile);
  checkAuthFile("REGISTRY_AUTH_FILE", env.REGISTRY_AUTH_FILE);
  if (flags.authfile !== undefined) opts.authFile = flags.authfile;
  if (flags.trustRealm !== undefined) opts.trustRealms = flags.trustRealm;
  if (sided("insecure", "srcInsecure", "destInsecure") === true) opts.insecure = true;
  // Messages name the flag the user typed: a side's own (`--src-ca-file`) when it gave the value.
  const flagOf = (name: string, src: keyof TransportFlags, dest: keyof TransportFlags): string =>
    side !== undefined && flags[side === "src" ? src : dest] !== undefined ? `--${side}-${name}` : `--${name}`;
  opts.tlsFlags = {
    caFile: flagOf("ca-file", "srcCaFile", "destCaFile"),
    certDir: flagOf("cert-dir", "srcCertDir", "destCertDir"),
    clientCert: flagOf("client-cert", "srcClientCert", "destClientCert"),
    clientKey: flagOf("client-key", "srcClientKey", "destClientKey"),
  };
  const caFile = sided("caFile", "srcCaFile", "destCaFile");
  if (caFile !== undefined) {
    const problem = caFileProblem(caFile);
    if (problem) throw new UsageError(`${opts.tlsFlags.caFile} ${problem}`, { where: caFile });
    opts.caFile = caFile;
  }
  const certDir = sided("certDir", "srcCertDir", "destCertDir");
  if (certDir !== undefined) opts.certDir = certDir;
  const clientCert = sided("clientCert", "srcClientCert", "destClientCert");
  const clientKey = sided("clientKey", "srcClientKey", "destClientKey");
  if (clientCert !== undefined) opts.clientCert = clientCert;
  if (clientKey !== undefined) opts.clientKey = clientKey;
  // Mirrors serve reads only: a destination is always the registry named.
  if (flags.registriesConf !== undefined && side !== "dest") opts.registriesConf = flags.registriesConf;
  if (flags.retries !== undefined) opts.retries = flags.retries;
  if (side === "dest" && flags.force === true) opts.replaceFile = true;
  if (ctx.debug) opts.debug = (line) => ctx.message(line);
  return opts;
}

const STDIN_SECRET_FLAGS = [
  ["credsFile", "--creds-file"],
  ["srcCredsFile", "--src-creds-file"],
  ["destCredsFile", "--dest-creds-file"],
] as const;

/**
 * `--creds-file -` and an archive read from standard input (`oci-archive:-`
 * as the command's first location) both want standard input: refused before
 * either reads it, or the credential would swallow the archive (or the
 * archive's bytes be taken for a credential). A `-` second location of copy
 * is standard output and shares nothing.
 */
export function checkStdinReaders(flags: TransportFlags, args: readonly string[]): void {
  const secret = STDIN_SECRET_FLAGS.find(([key]) => flags[key] === "-");
  const first = args[0];
  if (secret === undefined || first === undefined || !/^(oci|docker)-archive:-(:|$)/.test(first)) return;
  throw new UsageError(
    `${secret[1]} - and ${first} both read standard input: give the credential in a file or DRAY_CREDS, or the archive as a file`,
  );
}

/**
 * A file or folder flag given an empty value (`--ca-file=`, `--client-cert ""`, an unset `$CA` in a script) is
 * refused in words before any work, for every such flag at once, instead of each file check printing
 * `--ca-file  does not exist`. `--authfile ""` keeps its meaning (no auth file), as in skopeo.
 */
export function checkEmptyFileFlags(command: Command): void {
  const values = command.opts<Record<string, unknown>>();
  for (const option of command.options) {
    if (!/<(?:file|dir|path)>/.test(option.flags) || option.attributeName() === "authfile") continue;
    const value = values[option.attributeName()];
    if (value === "" || (Array.isArray(value) && value.includes("")))
      throw new UsageError(
        `${option.long ?? option.flags} needs a ${option.flags.includes("<dir>") ? "folder" : "file"} name, not an empty value`,
      );
  }
}

/** A credentials file named on the command line or in the environment must be usable: exit 2 before any request. */
function checkAuthFile(origin: string, path: string | undefined): void {
  if (path === undefined || path === "") return;
  const problem = authFileProblem(path);
  if (problem) throw new UsageError(`${origin} ${path} ${problem}`);
}

/** A commander argument parser for an integer ≥ `min`. */
export function parseCount(flag: string, min = 1): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min)
      throw new InvalidArgumentError(`${flag} expects an integer ≥ ${min}`);
    return n;
  };
}

/** `--trust-realm HOST` (repeatable), checked to be a host and not a URL. */
export function collectTrustRealm(value: string, previous: string[] | undefined): string[] {
  const invalid = invalidTrustRealm(value);
  if (invalid) throw new InvalidArgumentError(`--trust-realm ${invalid}`);
  return collect(value.trim().toLowerCase(), previous);
}

/** A commander reducer for repeatable options (`--platform a --platform b`). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** `--manifest-format`: oci or docker, checked before anything moves. */
export function parseManifestFormat(text: string): ManifestFormat {
  if (text === "oci" || text === "docker") return text;
  throw new UsageError(`--manifest-format must be oci or docker, not "${text}"`);
}

/** `--compress`: gzip, zstd or none. */
export function parseCompress(text: string): LayerCompression {
  if (text === "gzip" || text === "zstd" || text === "none") return text;
  throw new UsageError(`--compress must be gzip, zstd or none, not "${text}"`);
}

export interface ConversionFlags {
  manifestFormat?: string;
  compress?: string;
  compressLevel?: string;
}

/**
 * The conversion a command asked for, checked before anything is opened:
 * values, a level that fits the codec, and Docker's format without zstd.
 */
export function conversionOptions(
  flags: ConversionFlags,
  fallback: { manifestFormat?: ManifestFormat; compress?: LayerCompression; compressLevel?: number } = {},
): {
  manifestFormat?: ManifestFormat;
  compress?: LayerCompression;
  compressLevel?: number;
} {
  const manifestFormat = flags.manifestFormat === undefined ? fallback.manifestFormat : parseManifestFormat(flags.manifestFormat);
  const compress = flags.compress === undefined ? fallback.compress : parseCompress(flags.compress);
  const level = flags.compressLevel === undefined ? fallback.compressLevel : Number(flags.compressLevel);
  if (level !== undefined) {
    if (compress === undefined) throw new UsageError("--compress-level goes with --compress gzip|zstd");
    checkLevel(compress, level);
  }
  if (manifestFormat === "docker" && compress === "zstd") {
    throw new UsageError("--compress zstd cannot go with --manifest-format docker: Docker's manifest format has no zstd layers");
  }
  return {
    ...defined({ manifestFormat, compress, compressLevel: level }),
  };
}

/** What commander hands an action for the options `addTrustOptions` declares (`--key` or, in copy and sync, `--verify-key`). */
export interface TrustOptionFlags extends Omit<TrustFlags, "keys"> {
  key?: string[];
  verifyKey?: string[];
}

/**
 * Declares the trust material of `dray verify` and of the signature gate of
 * copy and sync (where the key flag is `--verify-key`, as `--key` would read
 * as a signing key there).
 */
export function addTrustOptions(cmd: Command, decl: { gate?: boolean } = {}): Command {
  const keyFlag = decl.gate ? "--verify-key <file>" : "--key <file>";
  return cmd
    .option(keyFlag, "trusted public key, PEM: ECDSA, RSA or Ed25519 (repeatable)", collect)
    .option("--certificate-identity <id>", "keyless: the certificate identity (email, URI) to trust")
    .option("--certificate-identity-regexp <re>", "keyless: a regular expression the whole identity must match")
    .option("--certificate-oidc-issuer <url>", "keyless: the OIDC issuer of the certificate")
    .option("--certificate-oidc-issuer-regexp <re>", "keyless: a regular expression the whole issuer must match")
    .option("--trusted-root <file>", "Sigstore trusted_root.json: Fulcio CAs, Rekor keys, CT logs, TSAs (offline)")
    .option("--notation-trust-store <dir>", "notation: CA certificates (PEM) the signing certificates must chain to")
    .option("--policy <file>", "containers-policy.json(5): which signatures each registry or repository needs")
    .option("--signed-identity <repo>", "the repository the signatures must name (a mirror verified under its upstream name)")
    .option("--require-each", "an index needs a signature on every platform image too, not only on the index")
    .option("--require-tlog", "a keyed signature needs a transparency-log entry too");
}

/** What commander hands an action for the options `addSignOptions` declares. */
export interface SignOptionFlags {
  signKey?: string;
  signFormat?: string;
  keyPasswordStdin?: boolean;
}

/** Re-signing at the destination (copy and sync): `--sign-key FILE`, `--sign-format`, the key's password from stdin. */
export function addSignOptions(cmd: Command): Command {
  return cmd
    .option("--sign-key <file>", "sign each image at the destination before its tag is written (PEM or cosign's encrypted key)")
    .option("--sign-format <format>", "with --sign-key: bundle (default), legacy (cosign's .sig tag) or both")
    .option(
      "--key-password-stdin",
      "read the encrypted signing key's password from standard input (else DRAY_KEY_PASSWORD or COSIGN_PASSWORD)",
    );
}

/** The library's TrustFlags from the parsed options. */
export function trustFlags(f: TrustOptionFlags): TrustFlags {
  const keys = [...(f.key ?? []), ...(f.verifyKey ?? [])];
  return {
    ...(keys.length > 0 ? { keys } : {}),
    ...defined({
      certificateIdentity: f.certificateIdentity,
      certificateIdentityRegexp: f.certificateIdentityRegexp,
      certificateOidcIssuer: f.certificateOidcIssuer,
      certificateOidcIssuerRegexp: f.certificateOidcIssuerRegexp,
      trustedRoot: f.trustedRoot,
      notationTrustStore: f.notationTrustStore,
      policy: f.policy,
      signedIdentity: f.signedIdentity,
    }),
    ...(f.requireEach ? { requireEach: true } : {}),
    ...(f.requireTlog ? { requireTlog: true } : {}),
  };
}

/** `K=V` flags (repeatable) into a map, the first `=` splitting; a key without `=` is a usage error naming the flag. */
export function parseKeyValues(items: readonly string[] | undefined, flag: string): Record<string, string> | undefined {
  if (!items || items.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new UsageError(`${flag} expects KEY=VALUE, not "${item}"`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}
