import { catFile, type ContentOptions, type ListedEntry, listFiles } from "../../api/content.js";
import { parsePlatform, printable, UsageError } from "../../api/model.js";
import { locationArg } from "../location-arg.js";
import type { CliContext } from "../context.js";
import { transportOptions, type TransportFlags } from "../options.js";
import { parseFormat, render, skopeoKeys } from "../output.js";

export interface CatFlags extends TransportFlags {
  list?: boolean;
  long?: boolean;
  format?: string;
  platform?: string;
}

const TYPE_LETTER: Record<ListedEntry["type"], string> = {
  file: "-",
  hardlink: "-",
  directory: "d",
  symlink: "l",
  "char-device": "c",
  "block-device": "b",
  fifo: "p",
};

/** rwxr-xr-x with setuid/setgid/sticky shown as ls does (s/S, t/T). */
function permissions(mode: number): string {
  const bits = ["r", "w", "x"];
  let s = "";
  for (let i = 8; i >= 0; i--) s += mode & (1 << i) ? bits[(8 - i) % 3]! : "-";
  const special = (pos: number, bit: number, lower: string, upper: string): void => {
    if (mode & bit) s = s.slice(0, pos) + (s[pos] === "x" ? lower : upper) + s.slice(pos + 1);
  };
  special(2, 0o4000, "s", "S");
  special(5, 0o2000, "s", "S");
  special(8, 0o1000, "t", "T");
  return s;
}

/** Names may hold newlines or control characters (layers are untrusted): those are quoted, so one line is one entry. */
const safeName = printable;

function longLine(e: ListedEntry): string {
  const when = e.mtime.slice(0, 16).replace("T", " ");
  const link =
    e.type === "symlink" ? ` -> ${safeName(e.linkname ?? "")}` : e.type === "hardlink" ? ` link to ${safeName(e.linkname ?? "")}` : "";
  return `${TYPE_LETTER[e.type]}${permissions(e.mode)} ${e.uid}/${e.gid} ${String(e.size).padStart(10)} ${when} ${safeName(e.path)}${link}`;
}

/** `--format json`: the README's keys, and the mode also as the octal string `ls` and `chmod` speak (`0755`). */
function listedJson(e: ListedEntry): unknown {
  const { path, type, mode, ...rest } = e;
  return skopeoKeys({ path, type, mode, modeOctal: (mode & 0o7777).toString(8).padStart(4, "0"), ...rest });
}

export async function runCat(ctx: CliContext, locText: string, path: string | undefined, flags: CatFlags): Promise<void> {
  const loc = await locationArg(locText);
  const opts: ContentOptions = {
    transport: transportOptions(flags, ctx),
    signal: ctx.signal,
    notice: (m) => ctx.message(`dray: ${m}`),
    ...(flags.platform === undefined ? {} : { platform: parsePlatform(flags.platform) }),
  };
  if (!flags.list) {
    if (flags.long || flags.format !== undefined) throw new UsageError("--long and --format go with --list");
    if (path === undefined) throw new UsageError("dray cat needs a PATH (or --list)");
    await catFile(loc, path, ctx.stdout, opts);
    return;
  }
  const format = parseFormat(flags.format, "text");
  if (format.kind === "template") throw new UsageError("dray cat --list prints text or json");
  const entries = await listFiles(loc, path, opts);
  if (format.kind === "json") return render(ctx, format, entries.map(listedJson));
  await render(ctx, format, entries, (list) => list.map((e) => `${flags.long ? longLine(e) : safeName(e.path)}\n`).join(""));
}
