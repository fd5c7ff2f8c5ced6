import { parseLocation, UsageError } from "../../api/model.js";
import { loadSigningKey, type Resign, SIGN_FORMATS, type SignFormat, signImage, type SignResult } from "../../api/signature.js";
import type { CliContext } from "../context.js";
import { keyPasswordSource, parseKeyValues, transportOptions, type SignOptionFlags, type TransportFlags } from "../options.js";
import { parseFormat, render, skopeoKeys } from "../output.js";

export interface SignFlags extends TransportFlags {
  key: string;
  format?: string;
  annotation?: string[];
  keyPasswordStdin?: boolean;
  signContainerIdentity?: string;
  outputFormat?: string;
  quiet?: boolean;
}

export function parseSignFormat(text: string | undefined, flag: string): SignFormat {
  if (text === undefined) return "bundle";
  if (!(SIGN_FORMATS as readonly string[]).includes(text)) {
    // Other commands' --format is the output's; here it is the signature's (as cosign's), the output has --output-format.
    const output = flag === "--format" && (text === "json" || text === "text" || text.includes("{{"));
    throw new UsageError(
      `${flag} "${text}": expected bundle, legacy or both${output ? `; for ${text === "json" ? "JSON" : "this"} output use --output-format ${text}` : ""}`,
    );
  }
  return text as SignFormat;
}

/** `bundle sha256:… (referrers API)`, `legacy sha256:… (tag sha256-….sig)`. */
export function describeSignatures(r: Pick<SignResult, "signatures">): string {
  return r.signatures
    .map(
      (s) =>
        `${s.format} ${s.digest} (${s.via === "api" ? "referrers API" : s.via === "tag-schema" ? `tag-schema index ${s.tag}` : `tag ${s.tag}`})`,
    )
    .join(", ");
}

/** The message every signing run ends with: what was written, and that no log holds it. */
export const NO_TLOG_NOTE = "no transparency log entry was written (offline): a verifier with --require-tlog refuses this signature";

/** `dray sign LOC --key FILE`. */
export async function runSign(ctx: CliContext, locText: string, flags: SignFlags): Promise<void> {
  const output = parseFormat(flags.outputFormat);
  const format = parseSignFormat(flags.format, "--format");
  const annotations = parseKeyValues(flags.annotation, "--annotation");
  const loc = parseLocation(locText);
  // The key (and its password) first: a wrong password is found before any request.
  const key = await loadSigningKey(flags.key, keyPasswordSource(flags.keyPasswordStdin, flags));
  const result = await signImage(loc, {
    key,
    format,
    ...(annotations ? { annotations } : {}),
    ...(flags.signContainerIdentity !== undefined ? { identity: flags.signContainerIdentity } : {}),
    transport: transportOptions(flags, ctx),
    signal: ctx.signal,
  });
  if (!flags.quiet) {
    ctx.message(`dray: signed ${result.location} ${result.digest} with key ${result.key}: ${describeSignatures(result)}`);
    ctx.message(`dray: ${NO_TLOG_NOTE}`);
  }
  await render(ctx, output, skopeoKeys(result), () => `${result.signatures.map((s) => s.digest).join("\n")}\n`);
}

/**
 * `--sign-key FILE` (or a sync file's `sign-key`) and `--sign-format`, the key
 * read and opened now, before anything moves: a wrong password is a usage
 * error, not a failure after the first image landed.
 */
export async function loadResign(
  flags: SignOptionFlags & Pick<TransportFlags, "credsFile" | "srcCredsFile" | "destCredsFile">,
  fromFile: { key?: string; format?: string } = {},
): Promise<Resign | undefined> {
  const path = flags.signKey ?? fromFile.key;
  if (path === undefined) {
    if (flags.signFormat !== undefined) throw new UsageError("--sign-format goes with --sign-key");
    // Not ignored: a password piped in for a key never given means the key flag is missing.
    if (flags.keyPasswordStdin) throw new UsageError("--key-password-stdin goes with --sign-key");
    return undefined;
  }
  const format = parseSignFormat(flags.signFormat ?? fromFile.format, flags.signFormat !== undefined ? "--sign-format" : "sign-format");
  return { key: await loadSigningKey(path, keyPasswordSource(flags.keyPasswordStdin, flags)), format };
}
