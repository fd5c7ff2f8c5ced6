import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions, transportOptions, type TransportFlags } from "../options.js";

interface InspectFlags extends TransportFlags {
  raw?: boolean;
  config?: boolean;
  tags: boolean;
  platform?: string;
  format?: string;
}

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
    const [{ parseLocation }, { parsePlatform }, output, lib] = await Promise.all([
      import("../../ref/location.js"),
      import("../../oci/platform.js"),
      import("../output.js"),
      import("../../inspect/index.js"),
    ]);
    const format = output.parseFormat(flags.format, "json");
    const loc = parseLocation(locText);
    const opts = {
      transport: transportOptions(flags, ctx),
      signal: ctx.signal,
      tags: flags.tags,
      ...(flags.platform === undefined ? {} : { platform: parsePlatform(flags.platform) }),
    };
    if (flags.config) {
      if (flags.raw) return output.writeOut(ctx, await lib.inspectConfigRaw(loc, opts));
      return output.render(ctx, format, await lib.inspectConfig(loc, opts));
    }
    if (flags.raw) return output.writeOut(ctx, (await lib.inspectRaw(loc, opts)).bytes);
    return output.render(ctx, format, await lib.inspect(loc, opts));
  });
}
