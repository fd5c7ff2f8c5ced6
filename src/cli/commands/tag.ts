import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { addTransportOptions, transportOptions, type TransportFlags } from "../options.js";

/** `dray tag LOC TAG…`: more names for an existing image; no blob moves. */
export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("tag")
    .description("add tags to an existing image without moving blobs (registry: same manifest PUT under each tag; layout: new ref.name)")
    .argument("<loc>", "image location (registry, oci: layout or archive)")
    .argument("<tags...>", "new tags");
  addTransportOptions(cmd);
  cmd.action(async (locText: string, tags: string[], flags: TransportFlags) => {
    const [{ parseLocation, formatLocation }, { isValidTag }, { UsageError }, { openReferences }] = await Promise.all([
      import("../../ref/location.js"),
      import("../../ref/reference.js"),
      import("../../errors.js"),
      import("../../transport/index.js"),
    ]);
    const loc = parseLocation(locText);
    // Check every tag before touching anything, so a typo in the third leaves the first two undone too.
    for (const tag of tags) {
      if (!isValidTag(tag)) throw new UsageError(`invalid tag "${tag}": a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, not a reference`, { code: "E_REF_INVALID" });
    }
    const refs = await openReferences(loc, transportOptions(flags, ctx));
    try {
      for (const tag of tags) {
        await refs.addTag(tag);
        ctx.message(`Tagged ${formatLocation(retagged(loc, tag))}`);
      }
    } finally {
      await refs.close();
    }
  });
}

type Loc = import("../../ref/location.js").Location;

/** The location the new tag makes, for the message. */
function retagged(loc: Loc, tag: string): Loc {
  switch (loc.transport) {
    case "docker": {
      const { digest: _digest, ...rest } = loc.ref;
      return { ...loc, ref: { ...rest, tag } };
    }
    case "docker-archive":
      return loc.ref ? { ...loc, ref: { domain: loc.ref.domain, path: loc.ref.path, tag } } : loc;
    case "oci":
    case "oci-archive":
      return { ...loc, ref: { kind: "tag", tag } };
  }
}
