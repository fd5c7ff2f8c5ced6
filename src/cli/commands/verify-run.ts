import { UsageError } from "../../errors.js";
import { parseLocation } from "../../ref/location.js";
import { assertVerified, policyFromFlags, verifyImage, type ImageVerification, type SignatureCheck } from "../../signature/index.js";
import type { CliContext } from "../context.js";
import { transportOptions, trustFlags } from "../options.js";
import { parseFormat, render } from "../output.js";
import type { VerifyFlags } from "./verify.js";

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
  const loc = parseLocation(locText);
  const policy = await policyFromFlags(trustFlags(flags));
  const result = await verifyImage(loc, { policy, transport: transportOptions(flags, ctx), signal: ctx.signal });
  await render(ctx, format, result, verificationText);
  assertVerified(result);
}
