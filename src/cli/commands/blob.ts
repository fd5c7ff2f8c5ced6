import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions } from "../options.js";
import type { BlobFlags } from "./blob-run.js";

/** `dray blob LOC DIGEST [-o FILE]`: one blob, verified while it streams. */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("blob")
    .description("write one blob (layer, config, manifest) to stdout or a file, verified against its digest as it streams")
    .argument("<loc>", "image location whose repository, layout or archive holds the blob")
    .argument("<digest>", "the blob's digest (sha256:…)")
    .option("-q, --quiet", "no progress and no summary line on stderr")
    .option("-o, --output <file>", "write to FILE (through a temporary name, renamed only when the digest matched); - or none: stdout");
  addTransportOptions(cmd);
  cmd.action(async (locText: string, digestText: string, flags: BlobFlags) => {
    const { runBlob } = await import("./blob-run.js");
    await runBlob(ctx, locText, digestText, flags);
  });
}
