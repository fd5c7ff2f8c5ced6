import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions, collect } from "../options.js";
import type { AttachFlags } from "./attach-run.js";

/** `dray attach LOC --artifact-type TYPE FILE[:MEDIATYPE]…`: an OCI 1.1 artifact referring to the image (an SBOM, a report). */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("attach")
    .description(
      "attach files to an image as an OCI 1.1 artifact whose subject is the image (referrers API, else the sha256-<hex> tag-schema index); prints its digest",
    )
    .argument("<loc>", "the image: docker://…, oci:… or oci-archive:…")
    .argument("[files...]", "FILE or FILE:MEDIATYPE, each a layer titled with its name (default type application/octet-stream)")
    .option("--artifact-type <type>", "the artifact's type, e.g. application/spdx+json (required)")
    .option("--annotation <key=value>", "an annotation of the artifact's manifest (repeatable)", collect)
    .option("-q, --quiet", "no messages on stderr")
    .option("-f, --format <format>", "the digest by default; json or a Go template");
  addTransportOptions(cmd);
  cmd.action(async (locText: string, files: string[], flags: AttachFlags) => {
    const { runAttach } = await import("./attach-run.js");
    await runAttach(ctx, locText, files, flags);
  });
}
