// Runs one case: warm-ups, then the measured runs with the contenders
// interleaved (the first to go rotates each round, so neither tool always
// runs on a cache the other just warmed), each run checked and cleaned up
// untimed. A failed run is recorded, not timed, and the case goes on.
import type { BenchCase, Contender, Slot, Target, Tool } from "./cases.js";
import { median, runTimed, type Sample } from "./measure.js";
import type { RequestMark } from "./timeline.js";

export interface ContenderResult {
  tool: Tool;
  shows: string;
  /** Successful measured runs. */
  samples: Sample[];
  /** One line per failed run (warm-ups included). */
  failures: string[];
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** Median user + system CPU time of the successful measured runs. */
  cpuMedianMs: number;
  /** Largest peak RSS over the successful runs (warm-ups included), KiB. */
  rssMaxKiB: number | undefined;
  /** Median HTTP requests and new connections per measured run (behind the delay proxy only). */
  requests: number | undefined;
  connections: number | undefined;
  /** The requests of the last successful measured run, behind the delay proxy. */
  timeline: RequestMark[] | undefined;
}

export interface TargetResult extends Target {
  ratio: number;
  /** undefined when a median is missing (a tool failed every run). */
  met: boolean | undefined;
}

export interface CaseResult {
  def: BenchCase;
  contenders: ContenderResult[];
  targets: TargetResult[];
  /** The machine's load averages (1, 5, 15 min) when the case ended: other work distorts the figures. */
  load?: number[];
}

/** Counts what a run sent to the registries (the delay proxies). */
export interface Meter {
  reset(): void;
  read(): { requests: number; connections: number; timeline: RequestMark[] };
}

export interface RunSettings {
  meter?: Meter;
  runs: number;
  warmups: number;
  env: NodeJS.ProcessEnv;
  scratch: string;
  timeoutMs: number;
  log: (line: string) => void;
}

interface Acc {
  samples: Sample[];
  failures: string[];
  rss: number[];
  requests: number[];
  connections: number[];
  timeline?: RequestMark[];
}

async function runOne(c: Contender, slot: Slot, s: RunSettings, acc: Acc, measured: boolean): Promise<void> {
  await c.before?.(slot);
  s.meter?.reset();
  const sample = await runTimed(c.command(slot), s.env, s.scratch, s.timeoutMs);
  const sent = s.meter?.read();
  let failure: string | undefined;
  if (sample.code !== 0) failure = `exit ${sample.code}: ${sample.stderrTail.split("\n").slice(-3).join(" | ") || "(no stderr)"}`;
  else failure = await c.verify?.(slot);
  await c.cleanup?.(slot);
  // A failed run's memory says nothing about the copy (it may have stopped at argument parsing).
  if (sample.rssKiB !== undefined && failure === undefined) acc.rss.push(sample.rssKiB);
  if (failure !== undefined) acc.failures.push(`run ${slot.label}: ${failure}`);
  else if (measured) {
    acc.samples.push(sample);
    if (sent) {
      acc.requests.push(sent.requests);
      acc.connections.push(sent.connections);
      acc.timeline = sent.timeline;
    }
  }
  const mem = sample.rssKiB === undefined ? "?" : `${(sample.rssKiB / 1024).toFixed(1)} MiB`;
  const cpu = sample.cpuMs === undefined ? "?" : fmtMs(sample.cpuMs);
  const net = sent ? `  ${sent.requests} req, ${sent.connections} conn` : "";
  s.log(
    `  ${c.tool.padEnd(6)} ${slot.label.padStart(3)}  ${fmtMs(sample.ms).padStart(9)}  cpu ${cpu.padStart(9)}  ${mem.padStart(10)}${net}${failure ? `  FAILED ${failure}` : ""}`,
  );
}

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return "—";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

export async function runCase(def: BenchCase, s: RunSettings): Promise<CaseResult> {
  const accs = def.contenders.map((): Acc => ({ samples: [], failures: [], rss: [], requests: [], connections: [] }));
  const order = (round: number): number[] => def.contenders.map((_, i) => (i + round) % def.contenders.length);
  for (let w = 0; w < s.warmups; w++) {
    for (const i of order(w)) await runOne(def.contenders[i]!, { label: `w${w + 1}` }, s, accs[i]!, false);
  }
  for (let r = 0; r < s.runs; r++) {
    for (const i of order(r)) await runOne(def.contenders[i]!, { label: String(r + 1) }, s, accs[i]!, true);
  }
  const contenders = def.contenders.map((c, i): ContenderResult => {
    const acc = accs[i]!;
    const ms = acc.samples.map((x) => x.ms);
    return {
      tool: c.tool,
      shows: c.shows,
      samples: acc.samples,
      failures: acc.failures,
      medianMs: median(ms),
      minMs: ms.length ? Math.min(...ms) : Number.NaN,
      maxMs: ms.length ? Math.max(...ms) : Number.NaN,
      cpuMedianMs: median(acc.samples.flatMap((x) => (x.cpuMs === undefined ? [] : [x.cpuMs]))),
      rssMaxKiB: acc.rss.length ? Math.max(...acc.rss) : undefined,
      requests: acc.requests.length ? median(acc.requests) : undefined,
      connections: acc.connections.length ? median(acc.connections) : undefined,
      timeline: acc.timeline,
    };
  });
  const medianOf = (tool: Tool, cpu: boolean): number => {
    const c = contenders.find((x) => x.tool === tool);
    return (cpu ? c?.cpuMedianMs : c?.medianMs) ?? Number.NaN;
  };
  const targets = def.targets.map((t): TargetResult => {
    const ratio = medianOf("dray", t.cpu === true) / medianOf(t.against, t.cpu === true);
    return { ...t, ratio, met: Number.isFinite(ratio) ? ratio <= t.max : undefined };
  });
  return { def, contenders, targets };
}
