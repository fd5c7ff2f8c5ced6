import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions } from "../options.js";
import type { DigestFlags } from "./digest-run.js";

/** `dray digest LOC`: the manifest digest, computed locally for layouts and archives. */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("digest")
    .description("print the manifest digest of an image or index")
    .argument("<loc>", "image location")
    .option("--platform <os/arch[/variant]>", "the digest of this platform's image in an index")
    .option("-f, --format <format>", 'text (the digest), json ({"Location", "Digest"}), or a Go template such as \'{{.Digest}}\'');
  addTransportOptions(cmd);
  cmd.action(async (locText: string, flags: DigestFlags) => {
    const { runDigest } = await import("./digest-run.js");
    await runDigest(ctx, locText, flags);
  });
}
