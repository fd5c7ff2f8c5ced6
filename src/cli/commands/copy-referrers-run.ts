import type { CopyLocationOptions } from "../../api/copy.js";
import { Digest, IncompleteError, printable, type Location } from "../../api/model.js";
import { copyReferrersOf, type ReferrersSummary } from "../../api/referrers.js";
import type { CliContext } from "../context.js";
import { formatBytes } from "../progress.js";
import { defined } from "../../defined.js";

/**
 * `dray copy --referrers`: after the image (or every tag of --all-tags)
 * arrived, what refers to it follows. One line a referrer and a total on
 * stderr unless quiet; a referrer that failed makes the command exit 1 after
 * the image itself was copied (see referrersFailure).
 */
/**
 * What a referrer line names: a manifest by digest (and artifact type), a tag by name; a subject's list that
 * could not be read is `list` (the line names its subject).
 */
export function referrerItemName(r: Pick<ReferrersSummary["items"][number], "kind" | "digest" | "artifactType" | "tag">): string {
  // The artifact type and tag are the registry's words: quoted if they hold a control character or a newline.
  if (r.kind === "manifest") return `${r.digest ?? ""}${r.artifactType ? ` (${printable(r.artifactType)})` : ""}`;
  if (r.kind === "list") return "list";
  return `${printable(r.tag ?? "")}${r.kind === "index-tag" ? " (referrers index)" : ""}`;
}

/** How referrers are reported on stderr: plain lines, JSON events (`--progress json`), or not at all. */
export type ReferrerLines = "lines" | "json" | "none";

export async function copyReferrersAfterCopy(
  ctx: CliContext,
  src: Location,
  dst: Location,
  digests: readonly string[],
  opts: Pick<CopyLocationOptions, "source" | "destination" | "signal">,
  lines: ReferrerLines,
): Promise<ReferrersSummary> {
  const summary = await copyReferrersOf(
    src,
    dst,
    [...new Set(digests)].map((d) => Digest.parse(d)),
    {
      ...defined({ source: opts.source, destination: opts.destination, signal: opts.signal }),
      onResult: (r) => {
        if (lines === "json") ctx.message(JSON.stringify({ type: "referrer", result: { ...r, error: r.error?.message } }));
        if (lines !== "lines" || (r.kind === "index-tag" && r.outcome !== "failed")) return;
        const name = `${referrerItemName(r)}${r.kind === "list" ? ` of ${r.subject}` : ""}`;
        if (r.error?.code === "E_INTERRUPTED") ctx.message(`referrer ${name}: interrupted`);
        else ctx.message(r.outcome === "failed" ? `dray: referrer ${name} failed: ${r.error?.message}` : `referrer ${name}: ${r.outcome}`);
      },
    },
  );
  if (lines === "json") ctx.message(JSON.stringify({ type: "referrers-done", summary }));
  if (lines === "lines") {
    ctx.message(
      `Referrers: ${summary.copied} copied, ${summary.upToDate} up to date, ${summary.failed} failed (${formatBytes(summary.bytes)}) in ${summary.seconds.toFixed(1)} s`,
    );
  }
  return summary;
}

/**
 * The error a run whose referrers did not all arrive ends with (exit 1), thrown by the caller once it printed its
 * output: the image itself was copied, so its digest or JSON summary still goes to stdout, as sync's does.
 */
export function referrersFailure(summary: ReferrersSummary): IncompleteError | undefined {
  return summary.failed > 0
    ? new IncompleteError(`${summary.failed} referrer${summary.failed === 1 ? "" : "s"} could not be copied`)
    : undefined;
}
