import { pipeline, Transform, type Readable } from "node:stream";
import type { CopyEvent } from "../copy/types.js";
import { UsageError } from "../errors.js";
import type { CliContext } from "./context.js";
import { escapeControls } from "../ref/reference.js";

/**
 * Renders the copy engine's progress events on stderr. The engine only emits
 * typed events; this module decides what a person (bars and a spinner on a
 * terminal), a CI log (plain lines and a periodic total) or a program (one
 * JSON object a line) sees. cli-progress and ora are imported only for bars.
 */

export type ProgressMode = "auto" | "bar" | "plain" | "json" | "none";
export const PROGRESS_MODES: readonly ProgressMode[] = ["auto", "bar", "plain", "json", "none"];

export interface ProgressRenderer {
  onEvent(event: CopyEvent): void;
  /** Stops bars, spinners and timers; safe to call twice, also after a failure. */
  stop(): void;
}

export interface ProgressSettings {
  /** Plain mode: how often a total line is printed (default 5 s). */
  intervalMs?: number;
  /** JSON mode: at most one blob-bytes line per blob this often (default 500 ms). */
  bytesIntervalMs?: number;
}

/** Decimal units as docker and skopeo print sizes. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n;
  let i = -1;
  do {
    v /= 1000;
    i++;
  } while (v >= 1000 && i < units.length - 1);
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

/** `sha256:` and the first 12 hex digits, for lines and bar names. */
export function shortDigest(digest: string): string {
  const colon = digest.indexOf(":");
  return digest.slice(0, colon + 13);
}

/**
 * `-q` is silence; `--progress json|plain|bar` asks for output on stderr: saying both is a
 * contradiction, not a choice for dray to make (copy and sync alike).
 */
export function checkQuietProgress(quiet: boolean, progress: string): void {
  if (quiet && (progress === "json" || progress === "plain" || progress === "bar"))
    throw new UsageError(`-q and --progress ${progress} contradict each other: -q prints nothing on stderr`);
}

/** Totals every renderer keeps: how much is planned and done. */
class Tally {
  blobs = 0;
  blobsDone = 0;
  bytes = 0;
  bytesDone = 0;
  private readonly started = Date.now();

  apply(e: CopyEvent): void {
    switch (e.type) {
      case "plan":
        this.blobs += e.blobs;
        this.bytes += e.bytes;
        break;
      case "blob-bytes":
        this.bytesDone += e.n;
        break;
      case "blob-done":
        this.blobsDone++;
        // Skipped and mounted blobs count as done without bytes flowing.
        if (e.outcome !== "copied") this.bytesDone += e.size;
        break;
      default:
        break;
    }
  }

  rate(): number {
    const s = (Date.now() - this.started) / 1000;
    return s > 0 ? this.bytesDone / s : 0;
  }
}

/** What the renderers need to know of stderr. */
export interface TerminalInfo {
  isTTY?: boolean;
  columns?: number;
}

/**
 * The mode `auto` means for this stderr: bars on a terminal, plain lines
 * elsewhere. A terminal that reports zero columns (a pseudo-terminal nobody
 * sized) gets plain lines too: ora divides by the width and would loop.
 */
export function resolveMode(mode: ProgressMode, quiet: boolean, stderr: TerminalInfo): Exclude<ProgressMode, "auto"> {
  if (quiet) return "none";
  const zeroWidth = stderr.isTTY === true && !(stderr.columns !== undefined && stderr.columns > 0);
  if (mode === "auto") return stderr.isTTY === true && !zeroWidth ? "bar" : "plain";
  if (mode === "bar" && zeroWidth) return "plain";
  return mode;
}

export async function createProgress(
  mode: ProgressMode,
  ctx: CliContext,
  quiet = false,
  settings: ProgressSettings = {},
): Promise<ProgressRenderer> {
  switch (resolveMode(mode, quiet, ctx.stderr as TerminalInfo)) {
    case "none":
      return { onEvent: () => undefined, stop: () => undefined };
    case "json":
      return new JsonProgress(ctx, settings.bytesIntervalMs ?? 500);
    case "plain":
      return new PlainProgress(ctx, settings.intervalMs ?? 5000);
    case "bar":
      return createBarProgress(ctx);
  }
}

/** One JSON object a line; byte counts are coalesced per blob so a big layer is not thousands of lines. */
class JsonProgress implements ProgressRenderer {
  private readonly pending = new Map<string, { n: number; bytes: number; last: number }>();

  constructor(
    private readonly ctx: CliContext,
    private readonly intervalMs: number,
  ) {}

  private write(obj: unknown): void {
    this.ctx.stderr.write(`${JSON.stringify(obj)}\n`);
  }

  private flush(digest: string): void {
    const p = this.pending.get(digest);
    if (p && p.n > 0) {
      this.write({ type: "blob-bytes", digest, n: p.n, bytes: p.bytes });
      p.n = 0;
    }
  }

  onEvent(e: CopyEvent): void {
    if (e.type === "blob-bytes") {
      const p = this.pending.get(e.digest) ?? { n: 0, bytes: 0, last: 0 };
      p.n += e.n;
      p.bytes += e.n;
      this.pending.set(e.digest, p);
      const now = Date.now();
      if (now - p.last >= this.intervalMs) {
        p.last = now;
        this.flush(e.digest);
      }
      return;
    }
    if (e.type === "blob-done") {
      this.flush(e.digest);
      this.pending.delete(e.digest);
    }
    this.write(e);
  }

  stop(): void {
    this.pending.clear();
  }
}

/** For logs: a line per finished blob and manifest, and a total every few seconds while bytes move. */
class PlainProgress implements ProgressRenderer {
  private readonly tally = new Tally();
  private timer: NodeJS.Timeout | undefined;
  private lastReported = -1;

  constructor(
    private readonly ctx: CliContext,
    intervalMs: number,
  ) {
    this.timer = setInterval(() => this.total(), intervalMs);
    this.timer.unref();
  }

  private line(s: string): void {
    this.ctx.stderr.write(`${s}\n`);
  }

  private total(): void {
    const t = this.tally;
    if (t.bytesDone === this.lastReported || t.blobs === 0) return;
    this.lastReported = t.bytesDone;
    this.line(
      `progress: ${t.blobsDone}/${t.blobs} blobs, ${formatBytes(t.bytesDone)} of ${formatBytes(t.bytes)}, ${formatBytes(Math.round(t.rate()))}/s`,
    );
  }

  onEvent(e: CopyEvent): void {
    this.tally.apply(e);
    switch (e.type) {
      case "manifest-resolved":
        this.line(`resolved ${e.source} to ${e.digest}${e.platforms ? ` [${e.platforms.join(", ")}]` : ""}`);
        break;
      case "plan":
        this.line(`copying ${e.blobs} blobs (${formatBytes(e.bytes)}) and ${e.manifests} manifest${e.manifests === 1 ? "" : "s"}`);
        break;
      case "notice":
        this.line(`note: ${escapeControls(e.message)}`);
        break;
      case "blob-done":
        // A converted layer is named as stored, with the source blob it came from.
        this.line(
          e.stored
            ? `${e.outcome} blob ${shortDigest(e.stored.digest)} (${formatBytes(e.stored.size)}), ${e.stored.change} from ${shortDigest(e.digest)}`
            : `${e.outcome} blob ${shortDigest(e.digest)} (${formatBytes(e.size)})`,
        );
        break;
      case "manifest-put":
        this.line(`stored ${e.top ? "top " : ""}manifest ${e.digest}`);
        break;
      case "up-to-date":
        this.line(`destination already has ${e.digest}: nothing to copy`);
        break;
      case "done":
        this.stop();
        break;
      default:
        break;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

type MultiBar = import("cli-progress").MultiBar;
type SingleBar = import("cli-progress").SingleBar;
type Ora = import("ora").Ora;

async function createBarProgress(ctx: CliContext): Promise<ProgressRenderer> {
  const [{ default: cliProgress }, { default: ora }] = await Promise.all([import("cli-progress"), import("ora")]);
  const spinner = ora({
    text: "reading manifests",
    stream: ctx.stderr,
    isEnabled: true,
    color: ctx.color ? "cyan" : false,
    // Raw-mode stdin would swallow Ctrl-C and steal an archive piped on stdin.
    discardStdin: false,
  }).start();
  const multibar = new cliProgress.MultiBar(
    {
      stream: ctx.stderr,
      format: "{name} {bar} {percentage}% | {done} / {size} | {rate}",
      barCompleteChar: "█",
      barIncompleteChar: "░",
      barsize: 30,
      hideCursor: true,
      clearOnComplete: false,
      autopadding: true,
      noTTYOutput: true,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  return new BarProgress(ctx, spinner, multibar);
}

/** Terminal view: a spinner while manifests are read, then one bar per blob in flight and a total. */
class BarProgress implements ProgressRenderer {
  private readonly tally = new Tally();
  private readonly bars = new Map<string, { bar: SingleBar; done: number }>();
  private totalBar: SingleBar | undefined;
  private stopped = false;

  constructor(
    private readonly ctx: CliContext,
    private readonly spinner: Ora,
    private readonly multibar: MultiBar,
  ) {}

  private totalPayload(): Record<string, string> {
    const t = this.tally;
    return {
      name: "total       ",
      done: formatBytes(t.bytesDone),
      size: formatBytes(t.bytes),
      rate: `${formatBytes(Math.round(t.rate()))}/s`,
    };
  }

  private updateTotal(): void {
    if (!this.totalBar) {
      this.totalBar = this.multibar.create(this.tally.bytes, this.tally.bytesDone, this.totalPayload());
      return;
    }
    this.totalBar.setTotal(Math.max(this.tally.bytes, 1));
    this.totalBar.update(this.tally.bytesDone, this.totalPayload());
  }

  private log(line: string): void {
    if (this.totalBar) this.multibar.log(`${line}\n`);
    else this.ctx.stderr.write(`${line}\n`);
  }

  onEvent(e: CopyEvent): void {
    if (this.stopped) return;
    this.tally.apply(e);
    switch (e.type) {
      case "manifest-resolved":
        this.spinner.text = `reading manifests of ${shortDigest(e.digest)}…`;
        break;
      case "plan":
        if (this.spinner.isSpinning)
          this.spinner.stopAndPersist({
            symbol: "•",
            text: `${e.manifests} manifest${e.manifests === 1 ? "" : "s"}, ${e.blobs} blobs, ${formatBytes(e.bytes)}`,
          });
        this.updateTotal();
        break;
      case "notice":
        if (this.spinner.isSpinning) this.spinner.info(escapeControls(e.message)).start();
        else this.log(`note: ${escapeControls(e.message)}`);
        break;
      case "blob-start": {
        // A blob's bar has no rate of its own: the total's is the one to read (no dangling "| ").
        const bar = this.multibar.create(
          Math.max(e.size, 1),
          0,
          { name: shortDigest(e.digest), done: "0 B", size: formatBytes(e.size) },
          { format: "{name} {bar} {percentage}% | {done} / {size}" },
        );
        this.bars.set(e.digest, { bar, done: 0 });
        break;
      }
      case "blob-bytes": {
        const b = this.bars.get(e.digest);
        if (b) {
          b.done += e.n;
          b.bar.update(b.done, { done: formatBytes(b.done) });
        }
        this.updateTotal();
        break;
      }
      case "blob-done": {
        const b = this.bars.get(e.digest);
        if (b) {
          this.multibar.remove(b.bar);
          this.bars.delete(e.digest);
        }
        this.updateTotal();
        break;
      }
      case "up-to-date":
        this.spinner.succeed(`destination already has ${e.digest}`);
        break;
      case "done":
        this.stop();
        break;
      default:
        break;
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.spinner.isSpinning) this.spinner.stop();
    this.multibar.stop();
  }
}

/**
 * One status line at the bottom of a terminal, redrawn in place (at most every
 * 200 ms, cut to the terminal's width so it never wraps), with lines printed
 * above it: long work that has no bars of its own (sync's images, export and
 * blob writing to a file) still shows that it moves. Draws nothing unless
 * stderr is a sized terminal.
 */
export class StatusLine {
  private text = "";
  private shown = false;
  private last = 0;
  private readonly started = Date.now();
  readonly enabled: boolean;

  constructor(private readonly ctx: CliContext) {
    const err = ctx.stderr as TerminalInfo;
    this.enabled = err.isTTY === true && (err.columns ?? 0) > 0;
  }

  /** Seconds since the status line was made. */
  seconds(): number {
    return (Date.now() - this.started) / 1000;
  }

  /** Sets the status; drawn now when `force`, else when 200 ms passed since the last draw. */
  set(text: string, force = false): void {
    this.text = text;
    const now = Date.now();
    if (!this.enabled || (!force && now - this.last < 200)) return;
    this.last = now;
    this.draw();
  }

  /** A line above the status (the status is drawn again below it). */
  log(line: string): void {
    if (!this.enabled) {
      this.ctx.stderr.write(`${line}\n`);
      return;
    }
    this.clear();
    this.ctx.stderr.write(`${line}\n`);
    this.draw();
  }

  /** Removes the status line (end of the work, or before the final summary). */
  clear(): void {
    if (this.enabled && this.shown) this.ctx.stderr.write("\r\u001b[K");
    this.shown = false;
  }

  private draw(): void {
    if (this.text === "") return;
    const width = Math.max(10, ((this.ctx.stderr as TerminalInfo).columns ?? 80) - 1);
    const text = this.text.length > width ? `${this.text.slice(0, width - 1)}…` : this.text;
    this.ctx.stderr.write(`\r\u001b[K${text}`);
    this.shown = true;
  }
}

/**
 * Counts the bytes of a file being written (`export -o`, `blob -o`) for the
 * status line on a terminal, and says what was written at the end: these
 * commands have no per-blob events, only a stream.
 */
export class WriteStatus {
  private readonly line: StatusLine;
  private bytes = 0;

  constructor(
    private readonly ctx: CliContext,
    private readonly what: string,
    private readonly total?: number,
  ) {
    this.line = new StatusLine(ctx);
  }

  /** `source` through a counter; an error of `source` fails the returned stream (pipeline, not pipe), so nothing half is committed. */
  through(source: Readable): Readable {
    const counter = this.counter();
    pipeline(source, counter, (err) => {
      if (err) counter.destroy(err);
    });
    return counter;
  }

  private counter(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        this.bytes += chunk.length;
        const rate = `${formatBytes(Math.round(this.bytes / Math.max(this.line.seconds(), 0.001)))}/s`;
        this.line.set(
          `${this.what}: ${formatBytes(this.bytes)}${this.total !== undefined ? ` of ${formatBytes(this.total)}` : ""}, ${rate}`,
        );
        done(null, chunk);
      },
    });
  }

  /** A message line above the status line, which is drawn again below it. */
  note(line: string): void {
    this.line.log(escapeControls(line));
  }

  /** Clears the status; `summary` then prints one line (`Wrote FILE: 30 MB in 1.2 s`). */
  finish(summary: boolean, file: string): void {
    this.line.clear();
    if (summary) this.ctx.message(`Wrote ${file}: ${formatBytes(this.bytes)} in ${this.line.seconds().toFixed(1)} s`);
  }
}
