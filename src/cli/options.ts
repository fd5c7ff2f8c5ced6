import { InvalidArgumentError, type Command } from "commander";
import type { LayerCompression } from "../oci/mediatype.js";
import { checkLevel } from "../oci/compression.js";
import type { ManifestFormat } from "../copy/convert.js";
import { UsageError } from "../errors.js";
import { invalidTrustRealm } from "../auth/trust-realm-syntax.js";
import type { CliContext } from "./context.js";
import type { Credentials, TransportOptions } from "../transport/types.js";

/**
 * Options several commands share, declared and interpreted in one place:
 * credentials, TLS, retries, repeatable `--platform`, counts. Only commander
 * and types are imported here, so declaring a command stays cheap (`dray
 * --version` must not load the transports).
 */

/** What commander hands an action for the options `addTransportOptions` declares. */
export interface TransportFlags {
  creds?: string;
  srcCreds?: string;
  destCreds?: string;
  authfile?: string;
  trustRealm?: string[];
  insecure?: boolean;
  caFile?: string;
  retries?: number;
}

export interface TransportOptionsDeclaration {
  /** The command has a source and a destination: adds `--src-creds` and `--dest-creds` beside `--creds`. */
  twoSided?: boolean;
}

/** Declares `--creds` (and per side), `--authfile`, `--insecure`, `--ca-file`, `--retries` on `cmd`. */
export function addTransportOptions(cmd: Command, decl: TransportOptionsDeclaration = {}): Command {
  cmd.option(
    "--creds <user:pass>",
    decl.twoSided ? "credentials for both registries (per side: --src-creds, --dest-creds)" : "registry credentials",
  );
  if (decl.twoSided) {
    cmd.option("--src-creds <user:pass>", "credentials for the source registry");
    cmd.option("--dest-creds <user:pass>", "credentials for the destination registry");
  }
  return cmd
    .option("--authfile <file>", "containers auth.json to read credentials from first")
    .option("--trust-realm <host>", "a token service on an unrelated site that may receive the credential (repeatable)", collectTrustRealm)
    .option("--insecure", "allow plain HTTP and unverified TLS for non-loopback registries")
    .option("--ca-file <file>", "extra CA certificates (PEM) to trust")
    .option("--retries <n>", "retries for transient failures (default 3)", parseCount("--retries", 0));
}

/** Parses `USER:PASS` at the first colon (a password may hold colons); never echoes the text (it holds a secret). */
export function parseCredentials(text: string, flag = "--creds"): Credentials {
  const colon = text.indexOf(":");
  if (colon <= 0) throw new UsageError(`${flag} expects USER:PASS`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

export type Side = "src" | "dest";

/**
 * The TransportOptions for one location. For a side, `--src-creds` /
 * `--dest-creds` win over `--creds`. Debug lines and notices go to stderr.
 */
export function transportOptions(flags: TransportFlags, ctx: CliContext, side?: Side): TransportOptions {
  const opts: TransportOptions = { notice: (m) => ctx.message(`dray: ${m}`) };
  const sided = side === "src" ? flags.srcCreds : side === "dest" ? flags.destCreds : undefined;
  const credsText = sided ?? flags.creds;
  if (credsText !== undefined) {
    const flag = sided !== undefined ? `--${side}-creds` : "--creds";
    opts.creds = parseCredentials(credsText, flag);
    opts.credsSource = flag;
  }
  if (flags.authfile !== undefined) opts.authFile = flags.authfile;
  if (flags.trustRealm !== undefined) opts.trustRealms = flags.trustRealm;
  if (flags.insecure) opts.insecure = true;
  if (flags.caFile !== undefined) opts.caFile = flags.caFile;
  if (flags.retries !== undefined) opts.retries = flags.retries;
  if (ctx.debug) opts.debug = (line) => ctx.message(line);
  return opts;
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

/** One of `choices`, as commander's `.choices()` would say it, for options parsed by hand. */
export function parseChoice<T extends string>(flag: string, choices: readonly T[]): (text: string) => T {
  return (text) => {
    if ((choices as readonly string[]).includes(text)) return text as T;
    throw new InvalidArgumentError(`${flag} expects one of ${choices.join(", ")}`);
  };
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
    ...(manifestFormat ? { manifestFormat } : {}),
    ...(compress ? { compress } : {}),
    ...(level === undefined ? {} : { compressLevel: level }),
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
