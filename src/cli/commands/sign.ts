import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions, collect } from "../options.js";
import type { SignFlags } from "./sign-run.js";

/** `dray sign LOC --key FILE`: an offline signature of the digest LOC names (a Sigstore bundle referrer, cosign's .sig tag). */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("sign")
    .description(
      "sign the digest an image location names with a private key, offline (no transparency log): a Sigstore bundle as a referrer, cosign's .sig tag, or both",
    )
    .argument("<loc>", "image location: docker://…, oci:DIR[:REF] or oci-archive:FILE[:REF]")
    .requiredOption("--key <file>", "private key: PEM (ECDSA P-256/P-384, Ed25519, RSA) or cosign's encrypted key")
    .option("--format <format>", "bundle (default: Sigstore bundle v0.3 as a referrer), legacy (cosign's sha256-<hex>.sig) or both")
    .option("-a, --annotation <k=v>", "added to the signed payload and the signature manifest (repeatable)", collect)
    .option("--key-password-stdin", "read the encrypted key's password from standard input (else DRAY_KEY_PASSWORD or COSIGN_PASSWORD)")
    .option(
      "--sign-container-identity <repo>",
      "the repository the signature names (default: the image's own; needed for legacy in a layout)",
    )
    .option("--output-format <format>", "text (the signature manifest digests, one a line), json or a Go template")
    .option("-q, --quiet", "no messages, only the digests on stdout");
  addTransportOptions(cmd);
  cmd.action(async (locText: string, flags: SignFlags) => {
    const { runSign } = await import("./sign-run.js");
    await runSign(ctx, locText, flags);
  });
}
