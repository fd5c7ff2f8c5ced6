import { referrersTree, type ReferrerNode, type ReferrersTree } from "../../content/referrers.js";
import { UsageError } from "../../errors.js";
import { parseLocation } from "../../ref/location.js";
import { printable } from "../../ref/reference.js";
import type { CliContext } from "../context.js";
import { transportOptions } from "../options.js";
import { parseFormat, render } from "../output.js";
import { formatBytes } from "../progress.js";
import type { ReferrersFlags } from "./referrers.js";

/** Types, annotations and tags come from the registry: quoted when they could steer a terminal. */
function nodeLabel(n: ReferrerNode): string {
  const created = n.annotations?.["org.opencontainers.image.created"];
  const via = n.source === "cosign-tag" ? ` (${printable(n.tag ?? "")})` : "";
  const kind = printable(n.artifactType ?? n.mediaType);
  return `${kind} ${n.digest} ${formatBytes(n.size)}${created ? ` created ${printable(created)}` : ""}${via}`;
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
      lines.push([n.digest, printable(n.artifactType ?? n.mediaType), String(n.size), subject].join("\t"));
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
