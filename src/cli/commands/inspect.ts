import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions } from "../options.js";
import type { InspectFlags } from "./inspect-run.js";

/** `dray inspect LOC`: skopeo-compatible summary, or the manifest / config bytes. */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("inspect")
    .description("show an image's digest, platform, labels, layers (skopeo inspect fields), or its manifest or config")
    .argument("<loc>", "image location: docker://…, oci:…, oci-archive:…, docker-archive:…")
    .option("--raw", "print the manifest (with --config: the config) exactly as stored")
    .option("--config", "print the image config")
    .option("-n, --no-tags", "do not list the repository's tags into RepoTags")
    .option("--platform <os/arch[/variant]>", "pick this platform's image from an index")
    .option("-f, --format <format>", "json (default), or a Go template such as '{{.Digest}}'");
  addTransportOptions(cmd);
  cmd.action(async (locText: string, flags: InspectFlags) => {
    const { runInspect } = await import("./inspect-run.js");
    await runInspect(ctx, locText, flags);
  });
}
