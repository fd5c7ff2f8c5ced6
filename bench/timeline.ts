// The request timeline of one run behind the delay proxies: when each HTTP
// request left the client, on which side, grouped into waves. Requests that
// start within most of a round trip of a wave's first one did not wait for
// each other's answers; a new wave means the client waited for an answer.
// The number of waves is the run's sequential round trips on the wire, and
// what each wave holds shows what the critical path waits for.

/** One request as the delay proxy saw it leave the client. */
export interface RequestMark {
  /** ms since the epoch when the request line arrived at the proxy (before its delay). */
  at: number;
  side: string;
  method: string;
  path: string;
}

export interface Wave {
  /** ms after the run's first request. */
  startMs: number;
  marks: RequestMark[];
}

/** A request's kind, for a compact summary: what a registry client asks for. */
export function requestKind(path: string): string {
  const p = path.split("?")[0]!;
  if (p === "/v2/" || p === "/v2") return "ping /v2/";
  if (/\/blobs\/uploads\/?$/.test(p)) return "upload start";
  if (p.includes("/blobs/uploads/")) return "upload";
  if (p.includes("/blobs/")) return "blob";
  if (p.includes("/manifests/")) return "manifest";
  if (p.endsWith("/tags/list")) return "tag list";
  if (p.includes("/referrers/")) return "referrers";
  if (p.endsWith("/_catalog")) return "catalog";
  return p;
}

/** Groups marks (any order) into waves: a mark joins the current wave if it starts within `gapMs` of the wave's start. */
export function toWaves(marks: readonly RequestMark[], gapMs: number): Wave[] {
  const sorted = [...marks].sort((a, b) => a.at - b.at);
  const t0 = sorted[0]?.at ?? 0;
  const waves: Wave[] = [];
  for (const m of sorted) {
    const last = waves[waves.length - 1];
    if (last && m.at - t0 - last.startMs < gapMs) last.marks.push(m);
    else waves.push({ startMs: m.at - t0, marks: [m] });
  }
  return waves;
}

/** `src: HEAD manifest ×1, dst: HEAD blob ×30` for one wave. */
export function describeWave(w: Wave): string {
  const counts = new Map<string, number>();
  for (const m of w.marks) {
    const key = `${m.side}: ${m.method} ${requestKind(m.path)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => `${k} ×${n}`).join(", ");
}

/** Markdown lines: one row per wave. */
export function renderTimeline(title: string, marks: readonly RequestMark[], rttMs: number): string[] {
  const waves = toWaves(marks, rttMs * 0.75);
  const lines = [`${title}: ${marks.length} requests in ${waves.length} waves`, "", "| wave | starts at | requests |", "|---|---|---|"];
  waves.forEach((w, i) => lines.push(`| ${i + 1} | +${Math.round(w.startMs)} ms | ${describeWave(w)} |`));
  lines.push("");
  return lines;
}
