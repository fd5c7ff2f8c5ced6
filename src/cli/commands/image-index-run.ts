import { appendToIndex, createIndex, type IndexOptions, type IndexResult, removeFromIndex } from "../../api/assemble.js";
import { type Location, parsePlatform, UsageError } from "../../api/model.js";
import { locationArg } from "../location-arg.js";
import type { CliContext } from "../context.js";
import { parseKeyValues, parseManifestFormat, transportOptions, type TransportFlags } from "../options.js";
import { parseFormat, render, skopeoKeys, writeOut } from "../output.js";
import { createProgress, formatBytes } from "../progress.js";
import type { ReferrerLines } from "./copy-referrers-run.js";
import type { WriteFlags } from "./write-options.js";
import { defined } from "../../defined.js";

export interface IndexFlags extends TransportFlags, WriteFlags {
  platform?: string[];
  replace?: boolean;
  annotation?: string[];
  manifestFormat?: string;
  dryRun?: boolean;
  referrers?: boolean;
}

export type IndexAction = "create" | "append" | "remove";

/** The body of `dray index create|append|remove`, loaded only when it runs. */
export async function runIndex(
  ctx: CliContext,
  action: IndexAction,
  dstText: string,
  srcTexts: string[],
  flags: IndexFlags,
): Promise<void> {
  const format = parseFormat(flags.format);
  if (format.kind === "template") format.template.check(indexJson(SHAPE));
  const dst = await locationArg(dstText);
  const srcs = await Promise.all(srcTexts.map(locationArg));
  const platforms = (flags.platform ?? []).map(parsePlatform);
  const quiet = flags.quiet === true;
  const annotations = parseKeyValues(flags.annotation, "--annotation");
  if (flags.dryRun && flags.referrers) throw new UsageError("--dry-run writes nothing; it cannot go with --referrers");
  const progress = await createProgress(flags.progress, ctx, quiet);
  const opts: IndexOptions = {
    signal: ctx.signal,
    onProgress: (e) => progress.onEvent(e),
    source: transportOptions(flags, ctx, "src"),
    destination: transportOptions(flags, ctx, "dest"),
    ...defined({ jobs: flags.jobs }),
    ...(flags.replace ? { replace: true } : {}),
    ...defined({ annotations }),
    ...(flags.manifestFormat === undefined ? {} : { manifestFormat: parseManifestFormat(flags.manifestFormat) }),
    ...(flags.dryRun ? { dryRun: true } : {}),
  };
  let result: IndexResult;
  try {
    if (action === "remove") result = await removeFromIndex(dst, platforms, opts);
    else result = await (action === "create" ? createIndex : appendToIndex)(dst, srcs, { ...opts, platforms });
  } finally {
    progress.stop();
  }
  if (!quiet) for (const line of describe(action, result)) ctx.message(line);
  const lines: ReferrerLines = quiet || flags.progress === "none" ? "none" : flags.progress === "json" ? "json" : "lines";
  const referrers = flags.referrers ? await copyReferrers(ctx, result, srcs, dst, opts, lines) : null;
  if (result.dryRun && format.kind === "text") {
    // The exact bytes, so `> index.json` hashes to the digest printed on stderr.
    await writeOut(ctx, result.index.bytes);
    return;
  }
  await render(ctx, format, indexJson(result, referrers), () => `${result.digest}\n`);
}

/** Referrers of each child follow it from the source it came from (loaded only with --referrers). */
async function copyReferrers(
  ctx: CliContext,
  result: IndexResult,
  srcs: Location[],
  dst: Location,
  opts: IndexOptions,
  lines: ReferrerLines,
): Promise<object> {
  const { copyReferrersAfterCopy, referrersFailure } = await import("./copy-referrers-run.js");
  const { formatLocation } = await import("../../api/model.js");
  const added = new Set(result.added);
  const summaries: object[] = [];
  for (const src of srcs) {
    const from = formatLocation(src);
    const digests = result.manifests.filter((m) => m.source === from && added.has(m.digest)).map((m) => m.digest);
    if (digests.length === 0) continue;
    const summary = await copyReferrersAfterCopy(ctx, src, dst, digests, opts, lines);
    const failure = referrersFailure(summary);
    if (failure) throw failure;
    summaries.push(summary);
  }
  return summaries;
}

/** One line per entry and one for the whole, on stderr. */
function describe(action: IndexAction, r: IndexResult): string[] {
  const added = new Set(r.added);
  const lines = r.manifests.map(
    (m) => `${added.has(m.digest) ? "+" : " "} ${(m.platform ?? "(no platform)").padEnd(16)} ${m.digest}  ${m.source}`,
  );
  for (const d of r.replaced) lines.push(`~ replaced ${d}`);
  for (const d of r.removed) lines.push(`- removed  ${d}`);
  if (r.dryRun) {
    lines.push(`Digest: ${r.digest} (dry run: nothing written to ${r.destination})`);
    return lines;
  }
  const c = r.copy!;
  const was = r.previousDigest ? ` (was ${r.previousDigest})` : "";
  const verb = action === "create" ? "Created" : "Updated";
  lines.push(
    `${verb} ${r.destination}${was}: ${r.manifests.length} ${r.manifests.length === 1 ? "entry" : "entries"}, blobs ${c.blobs.copied} copied (${formatBytes(c.bytes)}), ${c.blobs.skipped} skipped, ${c.blobs.mounted} mounted in ${c.seconds.toFixed(1)} s`,
  );
  return lines;
}

/** `--format json`: skopeo's capitalised keys, the index as its JSON document, the copy's counts. */
function indexJson(r: IndexResult, referrers: object | null = null): unknown {
  const { index, copy, ...rest } = r;
  return skopeoKeys({
    ...rest,
    index: JSON.parse(index.bytes.toString("utf8")) as unknown,
    blobs: copy ? copy.blobs : null,
    bytes: copy ? copy.bytes : 0,
    referrers,
  });
}

const SHAPE: IndexResult = {
  destination: "",
  digest: "",
  mediaType: "",
  previousDigest: "",
  manifests: [{ digest: "", mediaType: "", size: 0, platform: "", source: "" }],
  added: [""],
  replaced: [""],
  removed: [""],
  dryRun: false,
  index: { bytes: Buffer.from("{}"), mediaType: "", digest: undefined as never },
  copy: null,
};
