import { mutate, type MutateOptions, type MutateResult, parseAnnotation, parseCreated, sourceDateEpoch } from "../../api/assemble.js";
import { parsePlatform, UsageError } from "../../api/model.js";
import { locationArg } from "../location-arg.js";
import type { CliContext } from "../context.js";
import { parseKeyValues, transportOptions, type TransportFlags } from "../options.js";
import { parseFormat, render, skopeoKeys } from "../output.js";
import { createProgress } from "../progress.js";
import type { WriteFlags } from "./write-options.js";

export interface MutateFlags extends TransportFlags, WriteFlags {
  label?: string[];
  env?: string[];
  entrypoint?: string;
  cmd?: string;
  user?: string;
  workdir?: string;
  created?: string;
  annotation?: string[];
  platform?: string[];
}

/** The body of `dray mutate`, loaded only when it runs. */
export async function runMutate(ctx: CliContext, srcText: string, dstText: string | undefined, flags: MutateFlags): Promise<void> {
  const format = parseFormat(flags.format);
  if (format.kind === "template") format.template.check(mutateJson(SHAPE));
  const src = await locationArg(srcText);
  const dst = dstText === undefined ? undefined : await locationArg(dstText);
  const quiet = flags.quiet === true;
  const opts: MutateOptions = { ...changesOf(flags) };
  const progress = await createProgress(flags.progress, ctx, quiet);
  let result: MutateResult;
  try {
    result = await mutate(src, dst, {
      ...opts,
      signal: ctx.signal,
      onProgress: (e) => progress.onEvent(e),
      source: transportOptions(flags, ctx, "src"),
      destination: transportOptions(flags, ctx, "dest"),
      ...(flags.jobs === undefined ? {} : { jobs: flags.jobs }),
    });
  } finally {
    progress.stop();
  }
  if (!quiet) {
    for (const m of result.manifests) ctx.message(`${(m.platform ?? "image").padEnd(16)} ${m.from} -> ${m.to}`);
    if (result.notice) ctx.message(`dray: note: ${result.notice}`);
  }
  await render(ctx, format, mutateJson(result), () => `${result.digest}\n`);
}

/** The flags as library options, checked before anything is opened. */
function changesOf(flags: MutateFlags): MutateOptions {
  const opts: MutateOptions = {};
  const labels: Record<string, string> = {};
  const removed: string[] = [];
  for (const item of flags.label ?? []) {
    if (item.endsWith("-") && !item.includes("=")) removed.push(item.slice(0, -1));
    else Object.assign(labels, parseKeyValues([item], "--label"));
  }
  if (Object.keys(labels).length > 0) opts.labels = labels;
  if (removed.length > 0) opts.removeLabels = removed;
  const env = parseKeyValues(flags.env, "--env");
  if (env) opts.env = env;
  if (flags.entrypoint !== undefined) opts.entrypoint = parseWords(flags.entrypoint, "--entrypoint");
  if (flags.cmd !== undefined) opts.cmd = parseWords(flags.cmd, "--cmd");
  if (flags.user !== undefined) opts.user = flags.user;
  if (flags.workdir !== undefined) opts.workdir = flags.workdir;
  const created = flags.created !== undefined ? parseCreated(flags.created) : sourceDateEpoch();
  if (created !== undefined) opts.created = created;
  if (flags.annotation) opts.annotations = flags.annotation.map(parseAnnotation);
  if (flags.platform) opts.platforms = flags.platform.map(parsePlatform);
  return opts;
}

/** A JSON array of strings, or words split at white space; "" is the empty list (cleared). */
export function parseWords(text: string, flag: string): string[] {
  const trimmed = text.trim();
  if (trimmed.startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new UsageError(`${flag}: ${text} is not a JSON array of strings`);
    }
    if (!Array.isArray(parsed) || parsed.some((w) => typeof w !== "string"))
      throw new UsageError(`${flag}: ${text} is not a JSON array of strings`);
    return parsed as string[];
  }
  return trimmed === "" ? [] : trimmed.split(/\s+/);
}

/** `--format json`: skopeo's capitalised keys; the copy's blob counts beside the digests. */
function mutateJson(r: MutateResult): unknown {
  const { copy, ...rest } = r;
  return skopeoKeys({ ...rest, blobs: copy.blobs });
}

const SHAPE: MutateResult = {
  source: "",
  destination: "",
  digest: "",
  previousDigest: "",
  mediaType: "",
  manifests: [{ platform: "", from: "", to: "" }],
  notice: "",
  // Only the blob counts of the copy reach the JSON.
  copy: { blobs: { copied: 0, skipped: 0, mounted: 0 } } as MutateResult["copy"],
};
