import type { CopyLocationOptions } from "../../copy/index.js";
import { Digest } from "../../oci/digest.js";
import type { Location } from "../../ref/location.js";
import { copyReferrersOf, type ReferrersSummary } from "../../referrers/index.js";
import { IncompleteError } from "../../errors.js";
import { referrersTree, type ReferrerNode, type ReferrersTree } from "../../content/referrers.js";
import { UsageError } from "../../errors.js";
import { parseLocation } from "../../ref/location.js";
import type { CliContext } from "../context.js";
import { transportOptions } from "../options.js";
import { parseFormat, render } from "../output.js";
import type { ReferrersFlags } from "./referrers.js";
import { formatBytes } from "../progress.js";

/**
 * `dray copy --referrers`: after the image (or every tag of --all-tags)
 * arrived, what refers to it follows. One line a referrer and a total on
 * stderr unless quiet; a referrer that failed makes the command exit 1 after
 * the image itself was copied.
 */
export async function copyReferrersAfterCopy(
  ctx: CliContext,
  src: Location,
  dst: Location,
  digests: readonly string[],
  opts: Pick<CopyLocationOptions, "source" | "destination" | "signal">,
  quiet: boolean,
): Promise<ReferrersSummary> {
  const summary = await copyReferrersOf(src, dst, [...new Set(digests)].map((d) => Digest.parse(d)), {
    ...(opts.source ? { source: opts.source } : {}),
    ...(opts.destination ? { destination: opts.destination } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    onResult: (r) => {
      if (quiet || (r.kind === "index-tag" && r.outcome !== "failed")) return;
      const name = r.kind === "manifest" ? `${r.digest}${r.artifactType ? ` (${r.artifactType})` : ""}` : (r.tag ?? "");
      ctx.message(r.outcome === "failed" ? `dray: referrer ${name} failed: ${r.error?.message}` : `referrer ${name}: ${r.outcome}`);
    },
  });
  if (!quiet) {
    ctx.message(`Referrers: ${summary.copied} copied, ${summary.upToDate} up to date, ${summary.failed} failed (${formatBytes(summary.bytes)}) in ${summary.seconds.toFixed(1)} s`);
  }
  if (summary.failed > 0) throw new IncompleteError(`${summary.failed} referrer${summary.failed === 1 ? "" : "s"} could not be copied`);
  return summary;
}

function nodeLabel(n: ReferrerNode): string {
  const created = n.annotations?.["org.opencontainers.image.created"];
  const via = n.source === "cosign-tag" ? ` (${n.tag})` : "";
  return `${n.artifactType ?? n.mediaType} ${n.digest} ${formatBytes(n.size)}${created ? ` created ${created}` : ""}${via}`;
}

/** A tree as `tree(1)` draws it, for a terminal. */
function treeText(t: ReferrersTree): string {
  const lines = [`${t.subject.location} ${t.subject.digest}`];
  const walk = (nodes: readonly ReferrerNode[], indent: string): void => {
    nodes.forEach((n, i) => {
      const last = i === nodes.length - 1;
      lines.push(`${indent}${last ? "└── " : "├── "}${nodeLabel(n)}`);
      walk(n.referrers, `${indent}${last ? "    " : "│   "}`);
    });
  };
  walk(t.referrers, "");
  return `${lines.join("\n")}\n`;
}

/** One referrer a line for scripts: digest, artifact type, size in bytes, subject digest (tab-separated). */
function flatText(t: ReferrersTree): string {
  const lines: string[] = [];
  const walk = (nodes: readonly ReferrerNode[], subject: string): void => {
    for (const n of nodes) {
      lines.push([n.digest, n.artifactType ?? n.mediaType, String(n.size), subject].join("\t"));
      walk(n.referrers, n.digest);
    }
  };
  walk(t.referrers, t.subject.digest);
  return lines.map((l) => `${l}\n`).join("");
}

/** `dray referrers LOC`. */
export async function runReferrers(ctx: CliContext, locText: string, flags: ReferrersFlags): Promise<void> {
  const format = parseFormat(flags.format, "text");
  if (format.kind === "template") throw new UsageError("dray referrers prints text or json");
  const tree = await referrersTree(parseLocation(locText), {
    transport: transportOptions(flags, ctx),
    ...(flags.artifactType === undefined ? {} : { artifactType: flags.artifactType }),
    ...(flags.depth === undefined ? {} : { depth: flags.depth }),
  });
  await render(ctx, format, tree, ctx.stdout.isTTY ? treeText : flatText);
}
