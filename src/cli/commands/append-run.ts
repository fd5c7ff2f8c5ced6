import { append, type AppendResult, SCRATCH, sourceDateEpoch } from "../../api/assemble.js";
import { parsePlatform, UsageError } from "../../api/model.js";
import { locationArg } from "../location-arg.js";
import type { CliContext } from "../context.js";
import { conversionOptions, transportOptions, type TransportFlags } from "../options.js";
import { parseFormat, render, skopeoKeys } from "../output.js";
import { createProgress, formatBytes } from "../progress.js";
import type { WriteFlags } from "./write-options.js";

export interface AppendFlags extends TransportFlags, WriteFlags {
  layer?: string[];
  tag?: string;
  platform?: string[];
  compress?: string;
  compressLevel?: string;
  keepOwner?: boolean;
  manifestFormat?: string;
}

/** The body of `dray append`, loaded only when it runs. */
export async function runAppend(ctx: CliContext, baseText: string, flags: AppendFlags): Promise<void> {
  const format = parseFormat(flags.format);
  if (format.kind === "template") format.template.check(appendJson(SHAPE));
  if (!flags.tag) throw new UsageError("append: give the destination with -t DST");
  if (!flags.layer || flags.layer.length === 0) throw new UsageError("append: give at least one --layer PATH");
  const base = baseText === SCRATCH ? SCRATCH : await locationArg(baseText);
  const dst = await locationArg(flags.tag);
  const conversion = conversionOptions(flags);
  const created = sourceDateEpoch();
  const quiet = flags.quiet === true;
  const progress = await createProgress(flags.progress, ctx, quiet);
  let result: AppendResult;
  try {
    result = await append(base, dst, {
      layers: flags.layer,
      signal: ctx.signal,
      onProgress: (e) => progress.onEvent(e),
      source: transportOptions(flags, ctx, "src"),
      destination: transportOptions(flags, ctx, "dest"),
      ...(flags.platform ? { platforms: flags.platform.map(parsePlatform) } : {}),
      ...conversion,
      ...(flags.keepOwner ? { keepOwner: true } : {}),
      ...(created ? { created } : {}),
      ...(flags.jobs === undefined ? {} : { jobs: flags.jobs }),
    });
  } finally {
    progress.stop();
  }
  if (!quiet) {
    for (const l of result.layers) ctx.message(`layer ${l.digest} (${formatBytes(l.size)}, diff_id ${l.diffId}) from ${l.path}`);
    for (const m of result.manifests) ctx.message(`${(m.platform ?? "image").padEnd(16)} ${m.from || "scratch"} -> ${m.to}`);
  }
  await render(ctx, format, appendJson(result), () => `${result.digest}\n`);
}

function appendJson(r: AppendResult): unknown {
  const { copy, ...rest } = r;
  return skopeoKeys({ ...rest, blobs: copy.blobs });
}

const SHAPE: AppendResult = {
  base: "",
  destination: "",
  digest: "",
  previousDigest: "",
  mediaType: "",
  layers: [{ path: "", from: "folder", digest: "", diffId: "", size: 0, mediaType: "" }],
  manifests: [{ platform: "", from: "", to: "" }],
  // Only the blob counts of the copy reach the JSON.
  copy: { blobs: { copied: 0, skipped: 0, mounted: 0 } } as AppendResult["copy"],
};
