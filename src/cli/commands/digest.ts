import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions, transportOptions, type TransportFlags } from "../options.js";

interface DigestFlags extends TransportFlags {
  platform?: string;
}

/** `dray digest LOC`: the manifest digest, computed locally for layouts and archives. */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("digest")
    .description("print the manifest digest of an image or index")
    .argument("<loc>", "image location")
    .option("--platform <os/arch[/variant]>", "the digest of this platform's image in an index");
  addTransportOptions(cmd);
  cmd.action(async (locText: string, flags: DigestFlags) => {
    const [{ parseLocation }, { parsePlatform }, { writeOut }, { manifestDigest }] = await Promise.all([
      import("../../ref/location.js"),
      import("../../oci/platform.js"),
      import("../output.js"),
      import("../../inspect/index.js"),
    ]);
    const loc = parseLocation(locText);
    const raw = await manifestDigest(loc, {
      transport: transportOptions(flags, ctx),
      signal: ctx.signal,
      ...(flags.platform === undefined ? {} : { platform: parsePlatform(flags.platform) }),
    });
    await writeOut(ctx, `${raw.digest}\n`);
  });
}
