import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions, transportOptions, type TransportFlags } from "../options.js";

interface DigestFlags extends TransportFlags {
  platform?: string;
  format?: string;
}

/** `dray digest LOC`: the manifest digest, computed locally for layouts and archives. */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("digest")
    .description("print the manifest digest of an image or index")
    .argument("<loc>", "image location")
    .option("--platform <os/arch[/variant]>", "the digest of this platform's image in an index")
    .option("-f, --format <format>", "text (the digest), json ({\"Digest\": …}), or a Go template such as '{{.Digest}}'");
  addTransportOptions(cmd);
  cmd.action(async (locText: string, flags: DigestFlags) => {
    const [{ parseLocation, formatLocation }, { parsePlatform }, output, { manifestDigest }] = await Promise.all([
      import("../../ref/location.js"),
      import("../../oci/platform.js"),
      import("../output.js"),
      import("../../inspect/index.js"),
    ]);
    const format = output.parseFormat(flags.format);
    const loc = parseLocation(locText);
    const raw = await manifestDigest(loc, {
      transport: transportOptions(flags, ctx),
      signal: ctx.signal,
      ...(flags.platform === undefined ? {} : { platform: parsePlatform(flags.platform) }),
    });
    await output.render(ctx, format, { Location: formatLocation(loc), Digest: raw.digest.toString() }, (v) => `${v.Digest}\n`);
  });
}
