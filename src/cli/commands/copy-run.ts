import { writeFile } from "node:fs/promises";
import { copy, copyAllTags, type CopyLocationOptions } from "../../copy/index.js";
import type { AllTagsSummary, CopySummary } from "../../copy/types.js";
import { UsageError } from "../../errors.js";
import { parsePlatform } from "../../oci/platform.js";
import { parseLocation, type Location } from "../../ref/location.js";
import type { CliContext } from "../context.js";
import { transportOptions } from "../options.js";
import { parseFormat, render, type OutputFormat } from "../output.js";
import { createProgress, formatBytes, resolveMode, type TerminalInfo } from "../progress.js";
import type { CopyFlags } from "./copy.js";

/** The copy command's body, loaded only when `dray copy` runs (it pulls in the engine and the renderers). */
export async function runCopy(ctx: CliContext, srcText: string, dstText: string, flags: CopyFlags): Promise<void> {
  const format = parseFormat(flags.format);
  const src = parseLocation(srcText);
  const dst = parseLocation(dstText);
  if (flags.allTags && flags.digestfile) throw new UsageError("--digestfile names one image; it cannot be used with --all-tags");
  const quiet = flags.quiet === true;
  const progressMode = resolveMode(flags.progress, quiet, ctx.stderr as TerminalInfo);
  const progress = await createProgress(flags.progress, ctx, quiet);
  const opts: CopyLocationOptions = {
    platforms: (flags.platform ?? []).map(parsePlatform),
    signal: ctx.signal,
    onProgress: (e) => progress.onEvent(e),
    source: transportOptions(flags, ctx, "src"),
    destination: transportOptions(flags, ctx, "dest"),
    ...(flags.jobs === undefined ? {} : { jobs: flags.jobs }),
  };
  // An archive written to stdout owns it: the summary then goes to stderr.
  const sink: CliContext = writesStdout(dst) ? { ...ctx, stdout: ctx.stderr } : ctx;
  try {
    if (flags.allTags) {
      const summary = await copyAllTags(src, dst, opts);
      progress.stop();
      if (flags.referrers) await copyReferrers(ctx, src, dst, summary.tags.map((t) => t.digest), opts, quiet);
      if (!quiet) ctx.message(describeAllTags(summary));
      await render(sink, format, summary, (s) => s.tags.map((t) => `${t.tag} ${t.digest}\n`).join(""));
      return;
    }
    const summary = await copy(src, dst, opts);
    progress.stop();
    if (flags.digestfile) await writeFile(flags.digestfile, summary.digest);
    if (!quiet) {
      // Bars and plain lines already showed the notice as it happened.
      if (summary.notice && (progressMode === "none" || progressMode === "json")) ctx.message(`dray: note: ${summary.notice}`);
      ctx.message(describe(summary));
    }
    if (flags.referrers) await copyReferrers(ctx, src, dst, [summary.digest], opts, quiet);
    await renderSummary(sink, format, summary);
  } finally {
    progress.stop();
  }
}

/** Referrers follow the image once it has arrived (loaded only with --referrers). */
async function copyReferrers(ctx: CliContext, src: Location, dst: Location, digests: string[], opts: CopyLocationOptions, quiet: boolean): Promise<void> {
  const { copyReferrersAfterCopy } = await import("./copy-referrers-run.js");
  await copyReferrersAfterCopy(ctx, src, dst, digests, opts, quiet);
}

function writesStdout(loc: Location): boolean {
  return (loc.transport === "oci-archive" || loc.transport === "docker-archive") && loc.path === "-";
}

/** The text form is the digest alone, so `$(dray copy …)` is the digest. */
function renderSummary(ctx: CliContext, format: OutputFormat, summary: CopySummary): Promise<void> {
  return render(ctx, format, summary, (s) => `${s.digest}\n`);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** One line for people, on stderr. */
export function describe(s: CopySummary): string {
  if (s.upToDate) return `${s.destination} is up to date (${s.digest}); nothing copied`;
  const { copied, skipped, mounted } = s.blobs;
  const parts = [`${copied} copied (${formatBytes(s.bytes)})`, `${skipped} skipped`];
  if (mounted > 0) parts.push(`${mounted} mounted`);
  const platforms = s.platforms ? ` [${s.platforms.join(", ")}]` : "";
  return `Copied ${s.source} to ${s.destination}${platforms}: ${plural(s.manifests, "manifest")}, blobs ${parts.join(", ")} in ${s.seconds.toFixed(1)} s`;
}

function describeAllTags(s: AllTagsSummary): string {
  const { copied, skipped, mounted } = s.blobs;
  return `Copied ${plural(s.tags.length, "tag")} of ${s.source} to ${s.destination}: ${plural(s.manifests, "manifest")}, blobs ${copied} copied (${formatBytes(s.bytes)}), ${skipped} skipped, ${mounted} mounted in ${s.seconds.toFixed(1)} s`;
}
