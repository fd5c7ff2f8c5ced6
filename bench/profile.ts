// Where dray's time goes in a case that missed its target: one extra run
// under `node --cpu-prof`, its .cpuprofile reduced to self time by function
// and by area (dray's own modules, each dependency, node internals, garbage
// collection, and idle = waiting for I/O or peers).
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  ms: number;
}

export interface ProfileSummary {
  /** Profiled span in ms (from the profiler's start, which is after node's own bootstrap). */
  totalMs: number;
  byArea: ProfileEntry[];
  topFunctions: ProfileEntry[];
}

/** The area a script URL belongs to: `dray src/copy/engine`, `undici`, `node:internal/…`, … */
function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === "") {
    if (functionName === "(idle)") return "(idle: waiting for I/O)";
    if (functionName === "(garbage collector)") return "(garbage collector)";
    if (functionName === "(program)") return "(program: native, compiling)";
    return functionName ? `(native) ${functionName}` : "(native)";
  }
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `dependency ${nm[1]}`;
  const own = /\/dist\/(src\/[^/]+(?:\/[^/]+)?)/.exec(url);
  if (own) return `dray ${own[1]!.replace(/\.js$/, "")}`;
  if (url.startsWith("node:")) {
    const parts = url.slice(5).split("/");
    return `node:${parts.slice(0, Math.min(parts.length, parts[0] === "internal" ? 2 : 1)).join("/")}`;
  }
  return url.replace(/^file:\/\//, "");
}

function shortUrl(url: string): string {
  return url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, "$1/");
}

function top(map: Map<string, number>, n: number): ProfileEntry[] {
  return [...map.entries()]
    .map(([name, us]) => ({ name, ms: us / 1000 }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, n);
}

export function summarise(profile: CpuProfile, topN = 15): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const areas = new Map<string, number>();
  const fns = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    const area = areaOf(frame);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const fn = frame.url ? `${frame.functionName || "(anonymous)"} ${shortUrl(frame.url)}:${frame.lineNumber + 1}` : frame.functionName;
    fns.set(fn, (fns.get(fn) ?? 0) + us);
  }
  return { totalMs: (profile.endTime - profile.startTime) / 1000, byArea: top(areas, 12), topFunctions: top(fns, topN) };
}

/** Reads the one .cpuprofile node wrote into `dir`. */
export async function readProfile(dir: string): Promise<CpuProfile> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".cpuprofile"));
  if (files.length === 0) throw new Error(`no .cpuprofile in ${dir}`);
  return JSON.parse(await readFile(join(dir, files[0]!), "utf8")) as CpuProfile;
}
