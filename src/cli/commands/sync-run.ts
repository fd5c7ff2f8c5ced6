import { stat } from "node:fs/promises";
import { join } from "node:path";
import {
  IncompleteError,
  NotFoundError,
  parsePlatform,
  SignatureRefusedError,
  type TransportOptions,
  UsageError,
} from "../../api/model.js";
import { hasTrustFlags, type TrustFlags } from "../../api/policy.js";
import {
  formatShard,
  type ImageItem,
  loadSyncConfig,
  parseShard,
  parseSyncSource,
  parseSyncTarget,
  type PruneItem,
  type ReferrerItem,
  type RegistrySettings,
  type Shard,
  sync,
  type SyncEvent,
  type SyncOptions,
  type SyncRule,
  type SyncSummary,
  type TagFilter,
} from "../../api/sync.js";
import type { MirrorConfig } from "../../api/transport.js";
import type { CopyEvent } from "../../api/copy.js";
import type { CliContext } from "../context.js";
import {
  conversionOptions,
  transportOptions,
  trustFlags,
  type SignOptionFlags,
  type TransportFlags,
  type TrustOptionFlags,
} from "../options.js";
import { parseFormat, skopeoKeys, toJson, writeOut } from "../output.js";
import { checkQuietProgress, formatBytes, shortDigest, StatusLine } from "../progress.js";
import { defined } from "../../defined.js";
import { referrerItemName } from "./copy-referrers-run.js";

export interface SyncFlags extends TransportFlags, TrustOptionFlags, SignOptionFlags {
  file?: string;
  dest?: string;
  tag?: string[];
  tagRegex?: string;
  semver?: string;
  newest?: number;
  exclude?: string[];
  skipExisting?: boolean;
  prune?: boolean;
  shard?: string;
  rate?: number;
  registryJobs?: number;
  platform?: string[];
  referrers: boolean;
  jobs?: number;
  manifestFormat?: string;
  compress?: string;
  compressLevel?: string;
  failFast?: boolean;
  keepGoing?: boolean;
  dryRun?: boolean;
  format?: string;
  quiet?: boolean;
  progress: "auto" | "plain" | "json" | "none";
}

function isYamlFile(text: string): boolean {
  return /\.ya?ml$/i.test(text);
}

async function isLayoutDir(path: string): Promise<boolean> {
  return stat(join(path, "oci-layout")).then(
    (s) => s.isFile(),
    () => false,
  );
}

function cliFilter(flags: SyncFlags, tag: string | undefined): TagFilter | undefined {
  const f: TagFilter = {};
  const names = [...(flags.tag ?? []), ...(tag ? [tag] : [])];
  if (names.length > 0) f.names = names;
  if (flags.tagRegex !== undefined) f.regex = flags.tagRegex;
  if (flags.semver !== undefined) f.semver = flags.semver;
  if (flags.newest !== undefined) f.newest = flags.newest;
  if (flags.exclude) f.exclude = flags.exclude;
  return Object.keys(f).length > 0 ? f : undefined;
}

/** --skip-existing and --prune as rule settings (on the command line they turn them on; the file may turn them on per rule). */
function ruleSwitches(flags: SyncFlags): Pick<SyncRule, "skipExisting" | "prune"> {
  return { ...(flags.skipExisting ? { skipExisting: true } : {}), ...(flags.prune ? { prune: true } : {}) };
}

/** `dray sync SRC DST`: a repository goes to exactly DST; a registry or a folder of layouts goes under DST as a prefix. */
async function rulesFromArguments(src: string, dst: string, flags: SyncFlags): Promise<SyncRule[]> {
  const parsed = parseSyncSource(src);
  const s = parsed.source;
  const one = s.kind === "repository" && (s.location.transport === "docker" || (await isLayoutDir(s.location.path)));
  const rule: SyncRule = { source: s, destination: parseSyncTarget(dst, one), referrers: flags.referrers, ...ruleSwitches(flags) };
  const tags = cliFilter(flags, parsed.tag);
  if (tags) rule.tags = tags;
  if (flags.platform) rule.platforms = flags.platform.map(parsePlatform);
  return [rule];
}

interface Plan {
  rules: SyncRule[];
  jobs?: number;
  manifestFormat?: "oci" | "docker";
  compress?: "gzip" | "zstd" | "none";
  compressLevel?: number;
  shard?: Shard;
  registries: Map<string, RegistrySettings>;
  /** The sync file's top-level `verify:`. */
  verify?: TrustFlags;
  /** The sync file's `sign-key` and `sign-format`. */
  sign?: { key?: string; format?: string };
  mirrors?: MirrorConfig;
}

async function plan(src: string | undefined, dst: string | undefined, flags: SyncFlags): Promise<Plan> {
  // `dray sync FILE.yaml DST` is the file with DST as its destination (as --dest), never FILE read as a registry host.
  const file = flags.file ?? (src !== undefined && isYamlFile(src) ? src : undefined);
  if (file !== undefined && flags.file === undefined && dst !== undefined) {
    if (flags.dest !== undefined) throw new UsageError(`give the destination once: ${dst} or --dest ${flags.dest}`);
    flags = { ...flags, dest: dst };
  }
  if (file === undefined) {
    const target = dst ?? flags.dest;
    if (src === undefined || target === undefined)
      throw new UsageError("dray sync needs SRC and DST, or a YAML file (dray sync --file sync.yaml)");
    return { rules: await rulesFromArguments(src, target, flags), registries: new Map() };
  }
  if (flags.file !== undefined && src !== undefined) throw new UsageError("give either --file or SRC DST, not both");
  if (flags.tag || flags.tagRegex || flags.semver || flags.newest || flags.platform) {
    throw new UsageError("--tag, --tag-regex, --semver, --newest and --platform go with SRC DST; in a sync file, write them per rule");
  }
  const config = await loadSyncConfig(file, flags.dest === undefined ? {} : { destination: flags.dest });
  const dest = flags.dest === undefined ? undefined : parseSyncTarget(flags.dest, false);
  const rules = config.rules.map((r) => ({
    ...r,
    // --exclude adds to every rule's exclusions: it only ever takes less.
    ...(flags.exclude ? { tags: { ...r.tags, exclude: [...(r.tags?.exclude ?? []), ...flags.exclude] } } : {}),
    ...defined({ destination: dest }),
    ...(flags.referrers === false ? { referrers: false } : {}),
    ...ruleSwitches(flags),
  }));
  return {
    rules,
    ...(config.jobs ? { jobs: config.jobs } : {}),
    ...defined({
      manifestFormat: config.manifestFormat,
      compress: config.compress,
      compressLevel: config.compressLevel,
      shard: config.shard,
      verify: config.verify,
    }),
    ...(config.signKey ? { sign: { key: config.signKey, ...(config.signFormat ? { format: config.signFormat } : {}) } } : {}),
    registries: config.registries,
    ...defined({ mirrors: config.mirrors }),
  };
}

/** The flags' options, the same for every location (the sync file's per-registry settings go on top in sync()). */
function constant(o: TransportOptions): () => TransportOptions {
  return () => o;
}

/** The throttle the flags give every registry, as TransportOptions. */
function throttleOf(t: RegistrySettings): Pick<TransportOptions, "throttle"> {
  if (t.requestsPerSecond === undefined && t.concurrency === undefined) return {};
  return {
    throttle: {
      ...defined({ requestsPerSecond: t.requestsPerSecond, concurrency: t.concurrency }),
    },
  };
}

const OUTCOME_WORD: Record<ImageItem["outcome"], string> = {
  copied: "copied",
  "up-to-date": "up to date",
  failed: "FAILED",
  planned: "would copy",
  refused: "refused",
};

/** An image, referrer or repository listing a Ctrl-C (or SIGTERM) stopped did not fail: it was interrupted, and says so. */
function failedLine(what: string, error: { code: string; message: string } | undefined): string {
  if (error?.code === "E_INTERRUPTED") return `${"interrupted".padEnd(11)} ${what}`;
  return `FAILED      ${what}: ${error?.message ?? "failed"}`;
}

function imageLine(i: ImageItem): string {
  const what = `${i.source} -> ${i.destination}`;
  if (i.existing) return `${"exists".padEnd(11)} ${what}`;
  if (i.outcome === "failed") return failedLine(what, i.error);
  if (i.outcome === "refused") return `refused     ${what}: ${i.error?.message ?? "refused by the signature policy"}`;
  const extra =
    i.outcome === "copied" && i.blobs
      ? ` (${i.blobs.copied} ${i.blobs.copied === 1 ? "blob" : "blobs"} copied, ${i.blobs.mounted} mounted, ${formatBytes(i.bytes ?? 0)})`
      : "";
  const signed = i.signatures?.length ? `, signed: ${i.signatures.map((s) => `${s.format} ${shortDigest(s.digest)}`).join(", ")}` : "";
  return `${OUTCOME_WORD[i.outcome].padEnd(11)} ${what} ${i.digest ? shortDigest(i.digest) : ""}${extra}${signed}`;
}

function referrerLine(r: ReferrerItem): string {
  const what = `referrer ${referrerItemName(r)} of ${shortDigest(r.subject)} in ${r.source} -> ${r.destination}`;
  if (r.outcome === "failed") return failedLine(what, r.error);
  return `${OUTCOME_WORD[r.outcome].padEnd(11)} ${what}`;
}

function pruneLine(p: PruneItem): string {
  if (p.outcome === "failed") return `FAILED      prune ${p.destination}: ${p.error?.message ?? "failed"}`;
  return `${(p.outcome === "planned" ? "would prune" : "pruned").padEnd(11)} ${p.destination}${p.digest ? ` ${shortDigest(p.digest)}` : ""}`;
}

function eventLine(e: SyncEvent): string | undefined {
  switch (e.type) {
    case "prune":
      return pruneLine(e.item);
    case "skipped":
      return `skipped     ${e.item.source} -> ${e.item.destination}: ${e.item.reason}`;
    case "notice":
      return `dray: note: ${e.message}`;
    case "prune-skipped":
      return `no prune    ${e.skip.destination}: ${e.skip.reason}`;
    case "image":
      return imageLine(e.item);
    case "referrer":
      // A tag schema's index is bookkeeping written with the referrers it lists: a line only when it failed, as the totals count it.
      return e.item.kind === "index-tag" && e.item.outcome !== "failed" ? undefined : referrerLine(e.item);
    case "repository":
      return e.unmatched ? `nothing     no tag of ${e.source} matches ${e.unmatched}` : undefined;
    case "repository-failed":
      return failedLine(`${e.failure.source}${e.failure.destination ? ` -> ${e.failure.destination}` : ""}`, e.failure.error);
    default:
      return undefined;
  }
}

/**
 * The live status of a sync on a terminal: images done of those found so far, the
 * bytes of the images in flight, and the rate, so a 300 MB image does not look
 * like a hang between two lines.
 */
class SyncStatus {
  private images = 0;
  private imagesDone = 0;
  private inFlight = 0;
  private bytesPlanned = 0;
  private bytesDone = 0;

  constructor(private readonly line: StatusLine) {}

  log(text: string): void {
    this.line.log(text);
  }

  onSyncEvent(e: SyncEvent): void {
    if (e.type === "repository") this.images += e.tags;
    if (e.type === "image") this.imagesDone++;
    this.draw(e.type === "image");
  }

  onCopyEvent(e: CopyEvent): void {
    if (e.type === "plan") {
      this.inFlight++;
      this.bytesPlanned += e.bytes;
    } else if (e.type === "blob-bytes") this.bytesDone += e.n;
    else if (e.type === "blob-done" && e.outcome !== "copied") this.bytesDone += e.size;
    else if (e.type === "done" || e.type === "up-to-date") this.inFlight = Math.max(0, this.inFlight - 1);
    this.draw(false);
  }

  private draw(force: boolean): void {
    const rate = this.bytesDone / Math.max(this.line.seconds(), 0.001);
    this.line.set(
      `syncing: images ${this.imagesDone}/${this.images} done, ${this.inFlight} in flight; ` +
        `${formatBytes(this.bytesDone)} of ${formatBytes(this.bytesPlanned)}, ${formatBytes(Math.round(rate))}/s`,
      force,
    );
  }
}

function counts(c: SyncSummary["referrers"] & { refused?: number }, dryRun: boolean): string {
  const parts = [`${c.copied} copied`, `${c.upToDate} up to date`, `${c.failed} failed`];
  if (c.refused) parts.push(`${c.refused} ${dryRun ? "would be refused" : "refused"}`);
  if (dryRun) parts.unshift(`${c.planned} to copy`);
  return parts.join(", ");
}

/** The summary for people, on stderr. */
export function describeSync(s: SyncSummary): string {
  const { copied, skipped, mounted } = s.blobs;
  const lines = [
    `${s.dryRun ? "Dry run over" : "Synced"} ${s.repositories} ${s.repositories === 1 ? "repository" : "repositories"}` +
      (s.failedRepositories > 0 ? ` (${s.failedRepositories} failed)` : "") +
      ` in ${s.seconds.toFixed(1)} s: ` +
      `images ${counts(s.images, s.dryRun)}; referrers ${counts(s.referrers, s.dryRun)}; ` +
      `blobs ${copied} copied (${formatBytes(s.bytes)}), ${skipped} skipped, ${mounted} mounted` +
      (s.prune ? `; tags ${s.dryRun ? `${s.prune.planned} to prune` : `${s.prune.pruned} pruned`}, ${s.prune.failed} left` : "") +
      (s.shard ? ` (shard ${formatShard(s.shard)})` : ""),
  ];
  if (s.skipped)
    lines.push(
      `  skipped: ${s.skipped.length} ${s.skipped.length === 1 ? "image" : "images"} left for a later run (rate limit at its min-remaining)`,
    );
  for (const r of s.refused) lines.push(`  refused: ${r.source} -> ${r.destination}: ${r.message}`);
  for (const f of s.failures)
    lines.push(`  failed: ${f.source}${f.tag && !f.source.endsWith(`:${f.tag}`) ? ` ${f.tag}` : ""}: ${f.message}`);
  return lines.join("\n");
}

/** The plan of a dry run, for stdout: one line per image or referrer that would be copied. */
function planText(s: SyncSummary): string {
  const out: string[] = [];
  for (const i of s.items) if (i.outcome === "planned") out.push(`copy ${i.source} ${i.destination}`);
  for (const i of s.items) if (i.outcome === "refused") out.push(`refuse ${i.source} ${i.destination}`);
  for (const r of s.referrerItems)
    if (r.outcome === "planned" && r.kind !== "index-tag") out.push(`referrer ${referrerItemName(r)} ${r.source} ${r.destination}`);
  for (const p of s.pruneItems ?? []) if (p.outcome === "planned") out.push(`prune ${p.destination}`);
  return out.map((l) => `${l}\n`).join("");
}

/** The sync file's mirrors for reads, with every registry destination kept out of them (a run never reads what it writes). */
function mirrorsOf(p: Plan): Pick<TransportOptions, "mirrors" | "mirrorExclude"> {
  if (!p.mirrors) return {};
  const exclude = p.rules.flatMap((r) => (r.destination.location.transport === "docker" ? [r.destination.location.ref] : []));
  return { mirrors: p.mirrors, mirrorExclude: exclude };
}

export async function runSync(ctx: CliContext, src: string | undefined, dst: string | undefined, flags: SyncFlags): Promise<void> {
  const format = parseFormat(flags.format);
  if (format.kind === "template") throw new UsageError("dray sync --format takes text or json");
  if (flags.failFast && flags.keepGoing) throw new UsageError("--fail-fast and --keep-going contradict each other");
  const p = await plan(src, dst, flags);
  const quiet = flags.quiet === true;
  checkQuietProgress(quiet, flags.progress);
  const throttles: RegistrySettings = {
    ...defined({ requestsPerSecond: flags.rate, concurrency: flags.registryJobs }),
  };
  const mode = quiet ? "none" : flags.progress === "auto" ? "plain" : flags.progress;
  // auto on a terminal: the same lines, with a live status below them while images move.
  const status = mode === "plain" && flags.progress === "auto" ? new StatusLine(ctx) : undefined;
  const live = status?.enabled ? new SyncStatus(status) : undefined;
  const opts: SyncOptions = {
    signal: ctx.signal,
    sourceOptions: constant({ ...transportOptions(flags, ctx, "src"), ...throttleOf(throttles), ...mirrorsOf(p) }),
    destinationOptions: constant({ ...transportOptions(flags, ctx, "dest"), ...throttleOf(throttles) }),
    // --rate and --registry-jobs win over the file's settings for a host too.
    registries: new Map([...p.registries].map(([host, settings]) => [host, { ...settings, ...throttles }])),
    onEvent: (e) => {
      // json: only events on stderr, the summary being the `done` event (no plain summary line).
      if (mode === "json") ctx.message(JSON.stringify(e));
      live?.onSyncEvent(e);
      if (mode === "plain") {
        const line = eventLine(e);
        if (line === undefined) return;
        if (live) live.log(line);
        else ctx.message(line);
      }
    },
    ...(live ? { onProgress: (e: CopyEvent) => live.onCopyEvent(e) } : {}),
    ...(flags.failFast ? { failFast: true } : {}),
    ...(flags.dryRun ? { dryRun: true } : {}),
  };
  // The flags' gate wins over the file's top-level `verify:` (rules and registries that say their own keep it).
  const trust = trustFlags(flags);
  const verify = hasTrustFlags(trust) ? trust : p.verify;
  if (verify) opts.verify = verify;
  // The signing key is opened before the first request (a wrong password is a usage error, not N failed images).
  if (flags.signKey !== undefined || flags.signFormat !== undefined || flags.keyPasswordStdin || p.sign) {
    const { loadResign } = await import("./sign-run.js");
    const resign = await loadResign(flags, p.sign);
    if (resign && resign.format !== "bundle" && p.rules.some((r) => r.destination.location.transport === "oci"))
      throw new UsageError(
        "a legacy signature names a repository, which an OCI layout destination has not: sign-format bundle (the default)",
      );
    if (resign) {
      opts.sign = resign;
      if (!quiet && mode !== "json") {
        const { NO_TLOG_NOTE } = await import("./sign-run.js");
        ctx.message(`dray: re-signing every image copied with key ${resign.key.fingerprint} (${resign.format}); ${NO_TLOG_NOTE}`);
      }
    }
  }
  const jobs = flags.jobs ?? p.jobs;
  if (jobs !== undefined) opts.jobs = jobs;
  Object.assign(opts, conversionOptions(flags, p));
  const shard = flags.shard !== undefined ? parseShard(flags.shard) : p.shard;
  if (shard) opts.shard = shard;
  let summary: SyncSummary;
  try {
    summary = await sync(p.rules, opts);
  } finally {
    status?.clear();
  }
  if (!quiet && mode !== "json") ctx.message(describeSync(summary));
  if (format.kind === "json") await writeOut(ctx, toJson(skopeoKeys(summary)));
  else if (summary.dryRun) await writeOut(ctx, planText(summary));
  const failed = summary.failures.length;
  // Nothing found to mirror at all (a missing or empty source, or every repository named not there): exit 3, as `dray ls` of it is, not "incomplete".
  const missing = summary.failures.find((f) => f.code === "E_NOT_FOUND");
  const nothingMirrored = summary.items.length === 0 && summary.referrerItems.length === 0 && failed === summary.failedRepositories;
  if (nothingMirrored && missing && summary.failures.every((f) => f.code === "E_NOT_FOUND"))
    throw new NotFoundError(missing.message, { where: missing.source });
  const skipped = summary.skipped?.length ?? 0;
  if (failed === 0 && skipped > 0)
    throw new IncompleteError(`sync incomplete: ${skipped} ${skipped === 1 ? "image" : "images"} skipped (rate limit)`);
  if (failed > 0)
    throw new IncompleteError(`sync incomplete: ${failed} ${failed === 1 ? "failure" : "failures"}${quiet ? "" : " (listed above)"}`);
  const refused = summary.refused.length;
  if (refused > 0)
    throw new SignatureRefusedError(
      `${refused} ${refused === 1 ? "image" : "images"} ${summary.dryRun ? "would be" : ""}${summary.dryRun ? " " : ""}refused by the signature policy${quiet ? "" : " (listed above)"}`,
    );
}
