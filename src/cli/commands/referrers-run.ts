import { type ReferrerNode, referrersTree, type ReferrersTree } from "../../api/referrers-tree.js";
import { printable, UsageError } from "../../api/model.js";
import { locationArg } from "../location-arg.js";
import type { CliContext } from "../context.js";
import { transportOptions, type TransportFlags } from "../options.js";
import { parseFormat, render, skopeoKeys } from "../output.js";
import { formatBytes, shortDigest } from "../progress.js";

export interface ReferrersFlags extends TransportFlags {
  artifactType?: string;
  depth?: number;
  format?: string;
}

/** Types, annotations and tags come from the registry: quoted when they could steer a terminal. */
function nodeLabel(n: ReferrerNode, parent: string): string {
  const created = n.annotations?.["org.opencontainers.image.created"];
  const via = n.source === "cosign-tag" ? ` (${printable(n.tag ?? "")})` : "";
  const kind = printable(n.artifactType ?? n.mediaType);
  // --artifact-type can lift a referrer above one it refers to that was left out: say what it refers to.
  const of = n.subject !== parent ? ` refers to ${shortDigest(n.subject)}` : "";
  return `${kind} ${shortDigest(n.digest)} ${formatBytes(n.size)}${created ? ` created ${printable(created)}` : ""}${via}${of}`;
}

/**
 * A tree as `tree(1)` draws it, for a terminal: short digests (full ones are in the
 * piped lines and the JSON), and each line cut to the terminal's width so depth does not wrap.
 */
function treeText(t: ReferrersTree, columns: number | undefined): string {
  const lines = [`${t.subject.location} ${shortDigest(t.subject.digest)}`];
  const walk = (nodes: readonly ReferrerNode[], indent: string, parent: string): void => {
    nodes.forEach((n, i) => {
      const last = i === nodes.length - 1;
      lines.push(`${indent}${last ? "└── " : "├── "}${nodeLabel(n, parent)}`);
      walk(n.referrers, `${indent}${last ? "    " : "│   "}`, n.digest);
    });
  };
  walk(t.referrers, "", t.subject.digest);
  const fit = (l: string): string => (columns && columns > 10 && l.length > columns ? `${l.slice(0, columns - 1)}…` : l);
  return `${lines.map(fit).join("\n")}\n`;
}

/** One referrer a line for scripts: digest, artifact type, size in bytes, subject digest (tab-separated). */
function flatText(t: ReferrersTree): string {
  const lines: string[] = [];
  const walk = (nodes: readonly ReferrerNode[]): void => {
    for (const n of nodes) {
      lines.push([n.digest, printable(n.artifactType ?? n.mediaType), String(n.size), n.subject].join("\t"));
      walk(n.referrers);
    }
  };
  walk(t.referrers);
  return lines.map((l) => `${l}\n`).join("");
}

/** `dray referrers LOC`. */
export async function runReferrers(ctx: CliContext, locText: string, flags: ReferrersFlags): Promise<void> {
  const format = parseFormat(flags.format, "text");
  if (format.kind === "template") throw new UsageError("dray referrers prints text or json");
  const tree = await referrersTree(await locationArg(locText), {
    transport: transportOptions(flags, ctx),
    signal: ctx.signal,
    ...(flags.artifactType === undefined ? {} : { artifactType: flags.artifactType }),
    ...(flags.depth === undefined ? {} : { depth: flags.depth }),
  });
  if (format.kind === "json") return render(ctx, format, skopeoKeys(tree));
  const columns = (ctx.stdout as { columns?: number }).columns;
  await render(ctx, format, tree, ctx.stdout.isTTY ? (v) => treeText(v, columns) : flatText);
}
