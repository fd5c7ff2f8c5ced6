// bench/RESULTS.md: the run's conditions, a summary table, one table per case,
// the memory targets, and the profile of every case that missed a target.
// Hand-written analysis between the NOTES markers survives a re-run.
import type { ProfileSummary } from "./profile.js";
import { fmtMs, type CaseResult, type ContenderResult } from "./runner.js";
import type { MachineInfo, Versions } from "./system.js";
import { renderTimeline } from "./timeline.js";

export const NOTES_BEGIN = "<!-- notes:begin (kept when the bench rewrites this file) -->";
export const NOTES_END = "<!-- notes:end -->";

/** "A few MB": how far the big-layer case's peak RSS may be above its 30-layer counterpart. */
export const MEMORY_SLACK_MIB = 5;
export const MEMORY_LIMIT_MIB = 100;

/** Big-layer case → the 30 × 1 MiB case its memory is compared with. */
export const MEMORY_PAIRS: Record<string, string> = { "big-reg-reg": "reg-reg-30", "big-reg-oci": "reg-oci" };

export interface CaseProfile {
  caseId: string;
  command: string;
  wallMs: number;
  summary: ProfileSummary;
}

export interface Report {
  date: Date;
  durationMs: number;
  runs: number;
  warmups: number;
  bigMiB: number;
  machine: MachineInfo;
  versions: Versions;
  loadBefore: number[];
  loadAfter: number[];
  results: CaseResult[];
  profiles: CaseProfile[];
  previousNotes: string | undefined;
  /** Long strings in commands and their short names (`127.0.0.1:PORT` → SRC), listed above the tables. */
  aliases: Array<[string, string]>;
  /** The dray entry script that was measured. */
  drayBin: string;
  /** Round-trip times the registry cases ran at (0: loopback). */
  rtts: number[];
}

const mib = (kib: number | undefined): string => (kib === undefined ? "—" : `${(kib / 1024).toFixed(1)} MiB`);
const tool = (r: CaseResult, name: string): ContenderResult | undefined => r.contenders.find((c) => c.tool === name);
const ratioText = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : "—");
const metText = (met: boolean | undefined): string => (met === undefined ? "n/a (failed)" : met ? "**met**" : "**missed**");

function summaryRow(r: CaseResult): string {
  const dray = tool(r, "dray");
  const skopeo = tool(r, "skopeo");
  const baseline = tool(r, "curl") ?? tool(r, "node");
  const ratios = r.targets.length
    ? r.targets.map((t) => `${ratioText(t.ratio)} × ${t.against}${t.cpu ? " CPU" : ""} (≤ ${t.max})`).join("; ")
    : baseline
      ? `${ratioText(dray!.medianMs / baseline.medianMs)} × ${baseline.tool} (no target)`
      : "—";
  const met = r.targets.length ? r.targets.map((t) => metText(t.met)).join(", ") : "—";
  const q = skopeo && dray ? dray.medianMs / skopeo.medianMs : Number.NaN;
  const vsSkopeo = Number.isFinite(q) ? q.toFixed(2) : "—";
  const cpu = skopeo && dray ? ratioText(dray.cpuMedianMs / skopeo.cpuMedianMs) : "—";
  return `| ${r.def.id} | ${r.load?.[0]?.toFixed(1) ?? "—"} | ${fmtMs(dray?.medianMs ?? NaN)} | ${skopeo ? fmtMs(skopeo.medianMs) : "—"} | ${vsSkopeo} | ${cpu} | ${baseline ? `${fmtMs(baseline.medianMs)} (${baseline.tool})` : "—"} | ${ratios} | ${met} | ${mib(dray?.rssMaxKiB)} | ${mib(skopeo?.rssMaxKiB)} |`;
}

function shorten(text: string, aliases: Array<[string, string]>): string {
  let out = text;
  for (const [long, short] of aliases) out = out.split(long).join(short);
  return out;
}

function caseSection(r: CaseResult, runs: number, aliases: Array<[string, string]>): string[] {
  const lines = [
    `### ${r.def.id}: ${r.def.title}`,
    "",
    ...(r.load ? [`Load average when the case ended: ${r.load.join(", ")}.`, ""] : []),
    "| tool | command | median wall | min | max | median CPU (user+sys) | runs ok | peak RSS (max) |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const c of r.contenders) {
    lines.push(
      `| ${c.tool} | \`${shorten(c.shows, aliases).replace(/\|/g, "\\|")}\` | ${fmtMs(c.medianMs)} | ${fmtMs(c.minMs)} | ${fmtMs(c.maxMs)} | ${fmtMs(c.cpuMedianMs)} | ${c.samples.length}/${runs} | ${mib(c.rssMaxKiB)} |`,
    );
  }
  lines.push("");
  for (const t of r.targets)
    lines.push(
      `- target dray ≤ ${t.max} × ${t.against}${t.cpu ? " (CPU time)" : ""}: ${Number.isFinite(t.ratio) ? t.ratio.toFixed(2) : "—"} → ${metText(t.met)}`,
    );
  for (const c of r.contenders) for (const f of c.failures.slice(0, 5)) lines.push(`- ${c.tool} failed ${f.replace(/\n/g, " ")}`);
  if (r.targets.length || r.contenders.some((c) => c.failures.length)) lines.push("");
  return lines;
}

const perRun = (c: ContenderResult | undefined): string => (c?.requests === undefined ? "—" : `${c.requests} / ${c.connections}`);

/** One row per case behind a round trip: both tools beside the protocol's floor, and the round trips each spent. */
function roundTripRow(r: CaseResult, loopback: CaseResult | undefined): string {
  const rtt = r.def.rttMs;
  const dray = tool(r, "dray");
  const skopeo = tool(r, "skopeo");
  const at0 = (name: string): number => (loopback ? (tool(loopback, name)?.medianMs ?? Number.NaN) : Number.NaN);
  const fastest0 = Math.min(at0("dray"), at0("skopeo"));
  const floorRtts = r.def.floorRoundTrips;
  const floor = floorRtts === undefined || !Number.isFinite(fastest0) ? "—" : `${fmtMs(floorRtts * rtt + fastest0)} (${floorRtts} RTT)`;
  const spent = (c: ContenderResult | undefined): string => {
    const extra = (c?.medianMs ?? Number.NaN) - at0(c?.tool ?? "");
    return Number.isFinite(extra) ? (extra / rtt).toFixed(1) : "—";
  };
  const ratio = dray && skopeo ? ratioText(dray.medianMs / skopeo.medianMs) : "—";
  const target = r.targets.length ? r.targets.map((t) => `≤ ${t.max} × ${t.against}: ${metText(t.met)}`).join("; ") : "—";
  return `| ${r.def.baseId} | ${rtt} ms | ${r.load?.[0]?.toFixed(1) ?? "—"} | ${fmtMs(dray?.medianMs ?? NaN)} | ${skopeo ? fmtMs(skopeo.medianMs) : "—"} | ${ratio} | ${target} | ${floor} | ${spent(dray)} | ${spent(skopeo)} | ${perRun(dray)} | ${perRun(skopeo)} |`;
}

function roundTripSection(results: CaseResult[]): string[] {
  const behind = results.filter((r) => r.def.rttMs > 0);
  if (!behind.length) return [];
  return [
    "## Behind a round trip",
    "",
    "Both registries behind the bench's delay proxy (bench/delay-proxy.ts: each chunk held half the RTT each way, one RTT more for every new connection; bandwidth unlimited). " +
      "Floor: the fewest sequential round trips the protocol allows for the case (listed in bench/cases.ts), times the RTT, plus the faster tool's loopback median. " +
      "RTTs spent: (median at this RTT − the same tool's loopback median) / RTT, the round trips on the tool's critical path. " +
      "Requests / connections: what one run sent through the proxies (median).",
    "",
    "| case | RTT | load | dray | skopeo | dray / skopeo | target | floor | dray RTTs spent | skopeo RTTs spent | dray requests / conns | skopeo requests / conns |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...behind.map((r) =>
      roundTripRow(
        r,
        results.find((x) => x.def.rttMs === 0 && x.def.baseId === r.def.baseId),
      ),
    ),
    "",
  ];
}

/** The request waves of both tools in every case behind a round trip where dray missed a target. */
function timelineSection(results: CaseResult[]): string[] {
  const missed = results.filter((r) => r.def.rttMs > 0 && r.targets.some((t) => t.met === false));
  if (!missed.length) return [];
  const lines = [
    "## Request timelines of the cases that missed a target behind a round trip",
    "",
    "The last measured run of each tool, as the delay proxies saw its requests leave: requests that start within 3/4 of a round trip of a wave's first request are one wave (they did not wait for each other's answers); each new wave is the client waiting for an answer. Where several blobs are in flight, their steps interleave, so the wave count is an upper bound on the critical path; the first waves (pings, manifests, the first HEADs) and the last (the manifest PUT) are the sequential part. bench/timeline.ts.",
    "",
  ];
  for (const r of missed) {
    for (const c of r.contenders) {
      if (c.timeline?.length) lines.push(...renderTimeline(`**${r.def.id}, ${c.tool}**`, c.timeline, r.def.rttMs));
    }
  }
  return lines;
}

function memorySection(results: CaseResult[]): string[] {
  const lines = [
    "## Memory targets",
    "",
    `dray's peak RSS must stay ≤ ${MEMORY_LIMIT_MIB} MiB in every case, and each big-layer case within ${MEMORY_SLACK_MIB} MiB ("a few MB") of its 30 × 1 MiB counterpart.`,
    "",
  ];
  lines.push("| case | dray peak RSS | ≤ 100 MiB | compared with | difference | within a few MB |", "|---|---|---|---|---|---|");
  for (const r of results) {
    const dray = tool(r, "dray");
    if (!dray || !r.def.id.match(/reg|oci|archive|recopy/)) continue;
    const rss = dray.rssMaxKiB;
    const under = rss === undefined ? "—" : rss / 1024 <= MEMORY_LIMIT_MIB ? "**met**" : "**missed**";
    const pairId = MEMORY_PAIRS[r.def.id];
    const pair = pairId ? results.find((x) => x.def.id === pairId) : undefined;
    const pairRss = pair ? tool(pair, "dray")?.rssMaxKiB : undefined;
    const diff = rss !== undefined && pairRss !== undefined ? (rss - pairRss) / 1024 : undefined;
    const within = diff === undefined ? "—" : diff <= MEMORY_SLACK_MIB ? "**met**" : "**missed**";
    lines.push(
      `| ${r.def.id} | ${mib(rss)} | ${under} | ${pairId ?? "—"} | ${diff === undefined ? "—" : `${diff >= 0 ? "+" : ""}${diff.toFixed(1)} MiB`} | ${pairId ? within : "—"} |`,
    );
  }
  lines.push("");
  return lines;
}

function profileSection(p: CaseProfile): string[] {
  const lines = [
    `### Profile: ${p.caseId}`,
    "",
    `\`${p.command}\`: ${fmtMs(p.wallMs)} wall under the profiler, ${fmtMs(p.summary.totalMs)} profiled (node's own bootstrap before the profiler starts is not in it).`,
    "",
    "| area (self time) | ms | share |",
    "|---|---|---|",
  ];
  for (const a of p.summary.byArea) lines.push(`| ${a.name} | ${a.ms.toFixed(1)} | ${((a.ms / p.summary.totalMs) * 100).toFixed(1)} % |`);
  lines.push("", "| top functions (self time) | ms |", "|---|---|");
  for (const f of p.summary.topFunctions) lines.push(`| \`${f.name.replace(/\|/g, "\\|")}\` | ${f.ms.toFixed(1)} |`);
  lines.push("");
  return lines;
}

export function renderReport(rep: Report): string {
  const loaded = Math.max(rep.loadBefore[0] ?? 0, rep.loadAfter[0] ?? 0) > rep.machine.cores * 0.5;
  const lines = [
    "# dray vs skopeo: benchmark results",
    "",
    `Written by \`npm run bench\` (bench/run.ts) on ${rep.date.toISOString()}; the run took ${fmtMs(rep.durationMs)}.`,
    `Each case: ${rep.warmups} warm-up and ${rep.runs} measured run(s) per tool, tools interleaved (the first to run rotates each round), every run into a fresh repository, folder or file; skopeo's blob-info cache deleted before each skopeo run. Times are wall-clock medians of the child process (targets are judged on these); CPU is the median user + system time of the child, which a loaded machine distorts less; peak RSS is GNU time's maximum resident set size over all runs. Both registries are the CNCF distribution registry on 127.0.0.1 (plain HTTP), on this machine; round-trip times run: ${rep.rtts.map((t) => `${t} ms`).join(", ")} (0: loopback, direct).`,
    "",
    "## Machine and versions",
    "",
    `- CPU: ${rep.machine.cpuModel}, ${rep.machine.cores} cores; memory ${rep.machine.memoryGiB} GiB; ${rep.machine.kernel}`,
    `- load average (1, 5, 15 min) before: ${rep.loadBefore.join(", ")}; after: ${rep.loadAfter.join(", ")}`,
    ...(loaded
      ? [
          `- **The machine was loaded** (1-minute load above half the core count, other work was running): the timings are noisy, and ratios between tools, interleaved, are more trustworthy than absolute times.`,
        ]
      : []),
    `- node ${rep.versions.node}; dray ${rep.versions.dray} (run as \`node ${rep.drayBin}\`); ${rep.versions.skopeo}; docker-registry ${rep.versions.registry}; ${rep.versions.curl}`,
    `- big layer: ${rep.bigMiB} MiB of random bytes, gzipped (level 1) in one tar`,
    "",
    "## Summary",
    "",
    "| case | load | dray | skopeo | dray / skopeo | CPU dray / skopeo | baseline | ratio (target) | target | dray peak RSS | skopeo peak RSS |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...rep.results.map(summaryRow),
    "",
    ...roundTripSection(rep.results),
    ...timelineSection(rep.results),
    ...memorySection(rep.results),
    "## Cases",
    "",
    `In the commands below: ${rep.aliases.map(([long, short]) => `${short} = \`${long}\``).join(", ")}; N is the run's number (a fresh destination each run).`,
    "",
    ...rep.results.flatMap((r) => caseSection(r, rep.runs, rep.aliases)),
  ];
  if (rep.profiles.length) {
    lines.push(
      "## Profiles of the cases that missed a target",
      "",
      "One extra dray run under `node --cpu-prof`, reduced by bench/profile.ts to self time per area and per function.",
      "",
    );
    for (const p of rep.profiles) lines.push(...profileSection(p));
  }
  lines.push("## Notes", "", NOTES_BEGIN, rep.previousNotes?.trim() ?? "", NOTES_END, "");
  return lines.join("\n");
}

/** The hand-written notes of an earlier RESULTS.md, if any. */
export function extractNotes(previous: string | undefined): string | undefined {
  if (!previous) return undefined;
  const a = previous.indexOf(NOTES_BEGIN);
  const b = previous.indexOf(NOTES_END);
  return a >= 0 && b > a ? previous.slice(a + NOTES_BEGIN.length, b) : undefined;
}
