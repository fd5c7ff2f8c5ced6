import { existsSync } from "node:fs";
import { sourceDateEpoch } from "../../api/assemble.js";
import { parseLocation, UsageError } from "../../api/model.js";
import { attach, type AttachResult, parseAttachFile } from "../../api/referrers.js";
import type { CliContext } from "../context.js";
import { transportOptions, type TransportFlags } from "../options.js";
import { parseFormat, render, skopeoKeys } from "../output.js";
import { formatBytes } from "../progress.js";

export interface AttachFlags extends TransportFlags {
  artifactType?: string;
  annotation?: string[];
  format?: string;
  quiet?: boolean;
}

/** `--annotation KEY=VALUE` (repeatable): the last of one key wins, as in `dray mutate`. */
function parseAnnotations(texts: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of texts) {
    const eq = t.indexOf("=");
    if (eq <= 0) throw new UsageError(`--annotation expects KEY=VALUE, not "${t}"`);
    out[t.slice(0, eq)] = t.slice(eq + 1);
  }
  return out;
}

/** The body of `dray attach`, loaded only when it runs. */
export async function runAttach(ctx: CliContext, locText: string, fileTexts: string[], flags: AttachFlags): Promise<void> {
  const format = parseFormat(flags.format);
  if (format.kind === "template") format.template.check(attachJson(SHAPE));
  if (flags.artifactType === undefined) throw new UsageError("attach: give the artifact's type with --artifact-type TYPE");
  const loc = parseLocation(locText);
  const files = fileTexts.map((t) => parseAttachFile(t, existsSync));
  const annotations = parseAnnotations(flags.annotation ?? []);
  const created = sourceDateEpoch();
  const result = await attach(loc, {
    artifactType: flags.artifactType,
    ...(created ? { created } : {}),
    files,
    annotations,
    transport: transportOptions(flags, ctx),
    signal: ctx.signal,
  });
  if (!flags.quiet) {
    for (const l of result.layers) ctx.message(`layer ${l.digest} ${l.mediaType} (${formatBytes(l.size)}) from ${l.path}`);
    const how =
      result.indexedBy === "tag-schema"
        ? `listed in the tag-schema index ${result.index?.tag ?? ""}`
        : result.indexedBy === "referrers-api"
          ? "indexed by the registry's referrers API"
          : `tagged ${result.tag ?? ""}`;
    ctx.message(`Attached ${result.artifactType ?? ""} ${result.digest} to ${result.image} (${result.subject ?? ""}), ${how}`);
  }
  await render(ctx, format, attachJson(result), () => `${result.digest}\n`);
}

function attachJson(r: AttachResult): unknown {
  return skopeoKeys(r);
}

const SHAPE: AttachResult = {
  image: "",
  location: "",
  digest: "",
  mediaType: "",
  size: 0,
  artifactType: "",
  subject: "",
  indexedBy: "tag-schema",
  tag: "",
  index: { tag: "", digest: "" },
  layers: [{ path: "", title: "", mediaType: "", digest: "", size: 0 }],
  blobs: { copied: 0, skipped: 0 },
  bytes: 0,
};
