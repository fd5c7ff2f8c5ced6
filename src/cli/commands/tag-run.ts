import { UsageError } from "../../errors.js";
import { isValidTag } from "../../ref/reference.js";
import { openReferences } from "../../transport/index.js";
import { formatLocation, parseLocation, type Location } from "../../ref/location.js";
import { transportOptions, type TransportFlags } from "../options.js";
import type { CliContext } from "../context.js";

/** The body of `dray tag`, loaded only when it runs. */
export async function runTag(ctx: CliContext, locText: string, tags: string[], flags: TransportFlags): Promise<void> {
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
}

/** The location the new tag makes, for the message. */
function retagged(loc: Location, tag: string): Location {
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
