import { StringDecoder } from "node:string_decoder";
import { Transform } from "node:stream";
import { UsageError } from "../errors.js";
import { escapeControls, escapedJson, printable } from "../ref/reference.js";
import type { CliContext } from "./context.js";
import { parseTemplate, type Template } from "./template.js";

export { formatValue, parseTemplate, type Template } from "./template.js";

/**
 * Shared rendering for every command: `--format text` (the command's own
 * human/script-friendly text), `--format json` (one JSON document), or a
 * Go-template-like string (`--format '{{.Digest}}'`). Data goes to stdout only.
 */
export type OutputFormat = { kind: "text" } | { kind: "json" } | { kind: "template"; template: Template };

/** Parses `--format`; anything containing `{{` is a template, otherwise text or json. */
export function parseFormat(text: string | undefined, defaultKind: "text" | "json" = "text"): OutputFormat {
  if (text === undefined || text === "") return { kind: defaultKind };
  if (text.includes("{{")) return { kind: "template", template: parseTemplate(text) };
  if (text === "text" || text === "json") return { kind: text };
  throw new UsageError(`invalid --format "${text}": expected text, json or a template containing {{…}}`);
}

/**
 * skopeo prints its JSON with Go's json.MarshalIndent and four spaces; dray
 * does the same so diffs against `skopeo inspect` output stay readable.
 */
export function toJson(value: unknown): string {
  return `${escapedJson(value, 4)}\n`;
}

/**
 * Raw output (`inspect --raw`, `blob` of a JSON blob) as its bytes into a
 * pipe or file; on a terminal with its control characters and bidi marks
 * escaped: JSON leaves U+009B (CSI) and RLO raw, and a blob declared JSON
 * may hold anything. Valid JSON stays the same document.
 */
export function rawForTerminal(ctx: CliContext, data: Uint8Array): Uint8Array | string {
  return ctx.stdout.isTTY === true ? escapeControls(Buffer.from(data).toString("utf8")) : data;
}

/** The same for a stream: a pass-through into a pipe, escaping (split UTF-8 sequences kept whole) on a terminal. */
export function rawStreamForTerminal(ctx: CliContext): Transform | undefined {
  if (ctx.stdout.isTTY !== true) return undefined;
  const decoder = new StringDecoder("utf8");
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      done(null, escapeControls(decoder.write(chunk)));
    },
    flush(done) {
      done(null, escapeControls(decoder.end()));
    },
  });
}

/** Writes to stdout and resolves when the data has been handed to the OS (matters for pipes and `| head`). */
export async function writeOut(ctx: CliContext, data: string | Uint8Array): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    ctx.stdout.write(data, (err) => (err ? reject(err) : resolve()));
  });
}

/**
 * Prints `value` in `format`. `optional` names the fields of the value's schema it
 * may leave out (JSON omitempty), which a template reads as empty. `text` renders the text form (defaults to the
 * JSON form, which is what `inspect` shows). A template's output gets a final
 * newline, as skopeo and docker add one (also when it printed nothing: one
 * line per result, so `while read` loops and `wc -l` count right).
 */
export async function render<T>(
  ctx: CliContext,
  format: OutputFormat,
  value: T,
  text?: (v: T) => string,
  optional?: readonly string[],
): Promise<void> {
  switch (format.kind) {
    case "json":
      return writeOut(ctx, toJson(value));
    case "template": {
      // A template prints image text as it is (labels, annotations) for scripts; a terminal gets it escaped, so none of it steers the screen.
      const raw = format.template.render(value, optional);
      const s = ctx.stdout.isTTY === true ? escapeControls(raw) : raw;
      return writeOut(ctx, s.endsWith("\n") ? s : `${s}\n`);
    }
    case "text":
      return writeOut(ctx, text ? text(value) : toJson(value));
  }
}

/**
 * The one rule for the JSON every command prints (`--format json`, and what
 * templates see): every key is capitalised as skopeo's are (`Digest`,
 * `MediaType`, `Blobs.Copied`), at every depth, except inside maps whose keys
 * are data rather than field names (labels, annotations): those keys are kept
 * as the image states them. `--progress json` events on stderr are a stream of
 * their own with lowercase keys (README, "Output formats").
 */
export const DATA_MAP_KEYS: ReadonlySet<string> = new Set(["Labels", "Annotations"]);

/** A library result (camelCase) in that rule: first letter of every key upper-cased, data maps left alone. */
export function skopeoKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(skopeoKeys);
  if (typeof value !== "object" || value === null) return value;
  if (typeof (value as { toJSON?: unknown }).toJSON === "function") return value; // Digest and friends print as strings
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => {
      const key = k.charAt(0).toUpperCase() + k.slice(1);
      return [key, DATA_MAP_KEYS.has(key) ? v : skopeoKeys(v)];
    }),
  );
}

/** One item a line; nothing at all for an empty list. */
export function lines(items: readonly string[]): string {
  // Tags and repository names come from the registry: one that could steer a terminal is printed quoted.
  return items.map((s) => `${printable(s)}\n`).join("");
}
