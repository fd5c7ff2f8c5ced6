import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions, addTrustOptions } from "../options.js";
import type { VerifyFlags } from "./verify-run.js";

/** `dray verify LOC`: the image's signatures against keys, identities or a policy; exit 6 when none satisfies it. */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("verify")
    .description(
      "check an image's signatures (cosign .sig, Sigstore bundles, notation) against keys, keyless identities or a policy; exit 6 when refused",
    )
    .argument("<loc>", "image location: docker://… or oci:…")
    .option("-f, --format <format>", "text (one line per signature) or json");
  addTrustOptions(cmd);
  addTransportOptions(cmd);
  cmd.action(async (locText: string, flags: VerifyFlags) => {
    const { runVerify } = await import("./verify-run.js");
    await runVerify(ctx, locText, flags);
  });
}
