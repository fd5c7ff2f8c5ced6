// Bench settings from flags, then environment variables, then defaults, so a
// quick run is `npm run bench -- --runs 1 --big-mb 50` or `BENCH_RUNS=1 npm run bench`.
export interface BenchOptions {
  /** Measured runs per tool and case. */
  runs: number;
  /** Unmeasured runs per tool and case before those. */
  warmups: number;
  /** Size of the big layer in MiB; 0 leaves the big-layer cases out. */
  bigMiB: number;
  /** Case ids to run; empty: all. */
  cases: string[];
  /** Where the Markdown goes (relative to the package root unless absolute). */
  out: string;
  /** Profile dray once in every case that misses a target. */
  profile: boolean;
  list: boolean;
  /** The dray entry script to run (default: this package's bin/dray.cjs), to measure another build. */
  dray: string | undefined;
  /** Set up registries and images, print where they are, and wait for Ctrl-C (for profiling by hand). */
  serve: boolean;
  /** Round-trip times to run the registry cases at (0: loopback, direct); each > 0 behind the bench's delay proxy. */
  rtts: number[];
}

export const USAGE = `usage: npm run bench -- [--runs N] [--warmups N] [--big-mb N] [--cases ID,ID] [--rtt MS,MS] [--out FILE] [--no-profile] [--dray FILE] [--list] [--serve]
  --runs N       measured runs per tool and case (env BENCH_RUNS, default 5)
  --warmups N    warm-up runs per tool and case (env BENCH_WARMUPS, default 1)
  --big-mb N     size of the big layer in MiB, 0 to skip those cases (env BENCH_BIG_MB, default 500)
  --cases LIST   only these case ids, without the @RTT suffix (env BENCH_CASES; --list shows them)
  --rtt LIST     round-trip times in ms to run the registry cases at, 0 for loopback (env BENCH_RTT, default 0,20)
  --out FILE     Markdown report (env BENCH_OUT, default bench/RESULTS.md)
  --no-profile   do not profile dray in cases that miss a target (env BENCH_PROFILE=0)
  --dray FILE    the dray entry script to measure (env BENCH_DRAY, default bin/dray.cjs of this package)
  --serve        only set up the registries and images, print them, and wait for Ctrl-C`;

function count(name: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min) throw new Error(`${name} expects an integer ≥ ${min}, got "${text}"`);
  return n;
}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  const flags = new Map<string, string>();
  const bools = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--no-profile" || a === "--list" || a === "--serve" || a === "--help" || a === "-h") {
      bools.add(a);
      continue;
    }
    const m = /^--(runs|warmups|big-mb|cases|rtt|out|dray)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unknown argument "${a}"\n${USAGE}`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`--${m[1]} needs a value\n${USAGE}`);
    flags.set(m[1]!, value);
  }
  if (bools.has("--help") || bools.has("-h")) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const casesText = flags.get("cases") ?? env.BENCH_CASES ?? "";
  return {
    runs: count("--runs", flags.get("runs") ?? env.BENCH_RUNS, 5, 1),
    warmups: count("--warmups", flags.get("warmups") ?? env.BENCH_WARMUPS, 1, 0),
    bigMiB: count("--big-mb", flags.get("big-mb") ?? env.BENCH_BIG_MB, 500, 0),
    cases: casesText
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    out: flags.get("out") ?? env.BENCH_OUT ?? "bench/RESULTS.md",
    profile: !bools.has("--no-profile") && env.BENCH_PROFILE !== "0",
    list: bools.has("--list"),
    serve: bools.has("--serve"),
    dray: flags.get("dray") ?? (env.BENCH_DRAY || undefined),
    rtts: (flags.get("rtt") ?? env.BENCH_RTT ?? "0,20").split(",").map((t) => count("--rtt", t.trim(), 0, 0)),
  };
}
