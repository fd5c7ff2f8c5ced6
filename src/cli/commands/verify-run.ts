import { Digest, type Location, type TransportOptions, UsageError } from "../../api/model.js";
import { locationArg } from "../location-arg.js";
import { policyFromFlags, type TrustFlags } from "../../api/policy.js";
import { assertVerified, type ImageVerification, type SignatureCheck, verifyImage } from "../../api/signature.js";
import type { CliContext } from "../context.js";
import { transportOptions, trustFlags, type TransportFlags, type TrustOptionFlags } from "../options.js";
import { parseFormat, render, skopeoKeys } from "../output.js";

export interface VerifyFlags extends TransportFlags, TrustOptionFlags {
  format?: string;
}

/** One signature a line: kind, where it was found, who signed, when it was logged, the verdict. */
export function signatureLine(s: SignatureCheck): string {
  const kind = s.detail ? `${s.kind} ${s.detail}` : s.kind;
  const signer = s.key ? `key ${s.key}` : s.identity ? `identity ${s.identity} issuer ${s.issuer ?? "?"}` : "signer unknown";
  const logged = s.logTime ? ` logged ${s.logTime}` : "";
  return `${kind}\t${s.manifest}\t${signer}${logged}\t${s.accepted ? "accepted" : `refused: ${s.reason ?? "not accepted"}`}`;
}

function verificationText(v: ImageVerification): string {
  const out: string[] = [];
  const walk = (img: ImageVerification, indent: string): void => {
    out.push(`${indent}${img.location} ${img.digest}: ${img.satisfied ? "verified" : `refused: ${img.reason ?? "no accepted signature"}`}`);
    for (const s of img.signatures) out.push(`${indent}  ${signatureLine(s)}`);
    for (const c of img.children ?? []) walk(c, `${indent}  `);
  };
  walk(v, "");
  return `${out.join("\n")}\n`;
}

/** `dray verify LOC`. */
export async function runVerify(ctx: CliContext, locText: string, flags: VerifyFlags): Promise<void> {
  const format = parseFormat(flags.format, "text");
  if (format.kind === "template") throw new UsageError("dray verify prints text or json");
  const loc = await locationArg(locText);
  const policy = await policyFromFlags(trustFlags(flags));
  const result = await verifyImage(loc, { policy, transport: transportOptions(flags, ctx), signal: ctx.signal });
  // JSON under the one key rule (README, Output formats): `Location`, `Signatures[].Accepted`, as every command prints.
  await render(ctx, format, skopeoKeys(result), () => verificationText(result));
  assertVerified(result);
}

/**
 * The signature gate of `dray copy`: the source is verified before any blob
 * moves. A refusal prints each signature's verdict on stderr and throws
 * (exit 6); an accepted image is copied by the digest that was verified, so a
 * tag moved in between cannot slip another image through.
 */
export async function gateCopy(
  ctx: CliContext,
  src: Location,
  flags: TrustFlags,
  transport: TransportOptions,
  quiet: boolean,
): Promise<Location> {
  const policy = await policyFromFlags(flags);
  const result = await verifyImage(src, { policy, transport, signal: ctx.signal });
  if (!result.satisfied) {
    if (!quiet) for (const line of verificationText(result).trimEnd().split("\n")) ctx.message(`dray: ${line}`);
    assertVerified(result);
  }
  if (!quiet) ctx.message(`dray: verified ${result.location} ${result.digest}: ${acceptedSummary(result)}`);
  const digest = Digest.parse(result.digest);
  return src.transport === "docker" ? { ...src, ref: { ...src.ref, digest } } : src;
}

/** `1 signature accepted (cosign, key SHA256:…)`. */
export function acceptedSummary(v: ImageVerification): string {
  const ok = v.signatures.filter((s) => s.accepted);
  if (ok.length === 0) return "the policy accepts it unsigned";
  const who = ok.map((s) => `${s.kind}, ${s.key ? `key ${s.key}` : `${s.identity ?? "?"} (${s.issuer ?? "?"})`}`);
  return `${ok.length} signature${ok.length === 1 ? "" : "s"} accepted (${[...new Set(who)].join("; ")})`;
}
