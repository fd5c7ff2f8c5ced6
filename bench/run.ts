// `npm run bench`: dray against skopeo on this machine, in one run, over two
// real registries on 127.0.0.1 (issue 7). Builds its images by code, runs
// every case with the tools interleaved, profiles dray where a target is
// missed, and writes bench/RESULTS.md. Talks to nothing but loopback.
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { makeTempDir } from "../test/helpers/tmp.js";
import { requireTool, startRegistry, type RegistryHandle } from "../test/helpers/registry.js";
import { makeCases, type BenchCase } from "./cases.js";
import { prepareImages } from "./images.js";
import { requireGnuTime, runTimed } from "./measure.js";
import { parseOptions, type BenchOptions } from "./options.js";
import { readProfile, summarise } from "./profile.js";
import { extractNotes, renderReport, type CaseProfile } from "./report.js";
import { runCase, type CaseResult, type Meter } from "./runner.js";
import { startDelayProxy, type DelayProxy } from "./delay-proxy.js";
import { loadAverages, machineInfo, versions } from "./system.js";
import { buildUndiciFloor } from "./floor.js";
import { makeTools, type Tools } from "./tools.js";

const RUN_TIMEOUT_MS = 10 * 60_000;

/** The package root: compiled this file is dist/bench/run.js, under tsx it is bench/run.ts. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "dray") return dir;
    dir = dirname(dir);
  }
  throw new Error("cannot find dray's package.json above the bench script");
}

const log = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** One dray run of the case under --cpu-prof (fresh destination slot "prof"). */
async function profileCase(def: BenchCase, tools: Tools, work: string): Promise<CaseProfile | undefined> {
  const dray = def.contenders.find((c) => c.tool === "dray");
  if (!dray) return undefined;
  const dir = join(work, `profile-${def.id}`);
  await mkdir(dir, { recursive: true });
  const slot = { label: "prof" };
  const cmd = dray.command(slot);
  // A first run under the same flags, thrown away: V8 refuses a code cache made
  // under other flags, so without it the profile would show compiling that the
  // measured runs (which reuse the cache) do not do.
  const warm = { label: "prof-warm" };
  const warmCmd = dray.command(warm);
  await runTimed(
    { file: warmCmd.file, args: ["--cpu-prof", "--cpu-prof-dir", join(dir, "warm"), ...warmCmd.args] },
    tools.env,
    work,
    RUN_TIMEOUT_MS,
  );
  await dray.cleanup?.(warm);
  await rm(join(dir, "warm"), { recursive: true, force: true });
  const profiled = { file: cmd.file, args: ["--cpu-prof", "--cpu-prof-dir", dir, ...cmd.args] };
  const sample = await runTimed(profiled, tools.env, work, RUN_TIMEOUT_MS);
  await dray.cleanup?.(slot);
  if (sample.code !== 0) {
    log(`  profile run failed: ${sample.stderrTail}`);
    return undefined;
  }
  const summary = summarise(await readProfile(dir));
  await rm(dir, { recursive: true, force: true });
  return { caseId: def.id, command: `node --cpu-prof ${dray.shows.replace(/^dray /, "bin/dray.cjs ")}`, wallMs: sample.ms, summary };
}

/** A registry as seen through its delay proxy. */
function behind(reg: RegistryHandle, proxy: DelayProxy): RegistryHandle {
  return { ...reg, host: proxy.host, port: Number(proxy.host.split(":")[1]), url: `http://${proxy.host}` };
}

/** Requests and connections through all proxies, per run. */
function meterOf(proxies: DelayProxy[]): Meter {
  return {
    reset: () => proxies.forEach((p) => p.reset()),
    read: () =>
      proxies
        .map((p) => p.counts())
        .reduce((a, b) => ({
          requests: a.requests + b.requests,
          connections: a.connections + b.connections,
          timeline: [...a.timeline, ...b.timeline],
        })),
  };
}

async function main(opts: BenchOptions): Promise<void> {
  const started = Date.now();
  const root = packageRoot();
  const drayBin = opts.dray ? resolve(opts.dray) : join(root, "bin", "dray.cjs");
  requireGnuTime();
  requireTool("docker-registry");
  requireTool("skopeo");
  const loadBefore = loadAverages();
  const work = makeTempDir("dray-bench-");
  // The single executable runs beside dray in the start-up cases when it is built (npm run build:exe).
  const exeBin = join(root, "dist", "dray-linux-x64");
  const tools = await makeTools(join(work, "sandbox"), drayBin, existsSync(exeBin) ? exeBin : undefined);
  const undiciFloor = await buildUndiciFloor(work);

  const registries: RegistryHandle[] = [];
  const stopAll = async (): Promise<void> => {
    for (const r of registries) await r.stop();
  };
  process.on("SIGINT", () => {
    // The exit hook of test/helpers/tmp.ts kills the registries and removes the temporary folder.
    process.exit(130);
  });
  try {
    const src = await startRegistry({ mode: "plain" });
    registries.push(src);
    const dst = await startRegistry({ mode: "plain" });
    registries.push(dst);
    log(`source registry ${src.host}, destination registry ${dst.host}, work folder ${work}`);
    const images = await prepareImages(src, dst, work, { bigBytes: opts.bigMiB * 2 ** 20 }, log);
    if (opts.serve) {
      log(
        `ready: docker://${src.host}/bench/layers30:v1, …/bench/index3:v1, …/bench/big:v1; oci:${images.layoutDir}:v1; env HOME=${tools.env.HOME}`,
      );
      log("Ctrl-C stops the registries and removes the work folder");
      await new Promise<never>(() => setInterval(() => undefined, 1 << 30));
    }
    const results: CaseResult[] = [];
    const profiles: CaseProfile[] = [];
    for (const rttMs of opts.rtts) {
      // Behind a round trip, both registries sit behind a delay proxy of their own.
      const proxies =
        rttMs > 0 ? await Promise.all([startDelayProxy(src.host, rttMs, "src"), startDelayProxy(dst.host, rttMs, "dst")]) : [];
      const [srcSeen, dstSeen] = proxies.length ? proxies.map((p, i) => behind(i === 0 ? src : dst, p)) : [src, dst];
      try {
        let cases = makeCases({ tools, src: srcSeen!, dst: dstSeen!, rttMs, work, images, undiciFloor });
        if (opts.cases.length) cases = cases.filter((c) => opts.cases.includes(c.baseId));
        const meter = proxies.length ? meterOf(proxies) : undefined;
        for (const def of cases) {
          log(`\n${def.id}: ${def.title}${rttMs > 0 ? `, ${rttMs} ms round trip` : ""}`);
          const result = await runCase(def, {
            runs: opts.runs,
            warmups: opts.warmups,
            env: tools.env,
            scratch: work,
            timeoutMs: RUN_TIMEOUT_MS,
            log,
            ...(meter ? { meter } : {}),
          });
          result.load = loadAverages();
          log(`  load average ${result.load.join(", ")}`);
          for (const t of result.targets)
            log(
              `  → dray ${t.ratio.toFixed(2)} × ${t.against} (target ≤ ${t.max}): ${t.met === undefined ? "n/a" : t.met ? "met" : "MISSED"}`,
            );
          results.push(result);
          // Profiled here, while this round trip's delay proxies still run (a case behind them cannot reach the registries later).
          if (opts.profile && result.targets.some((t) => t.met === false)) {
            log(`  profiling dray in ${def.id}`);
            const p = await profileCase(def, tools, work);
            if (p) profiles.push(p);
          }
        }
      } finally {
        for (const p of proxies) await p.close();
      }
    }

    const outPath = isAbsolute(opts.out) ? opts.out : resolve(root, opts.out);
    const previous = await readFile(outPath, "utf8").catch(() => undefined);
    const markdown = renderReport({
      date: new Date(started),
      durationMs: Date.now() - started,
      runs: opts.runs,
      warmups: opts.warmups,
      bigMiB: opts.bigMiB,
      machine: machineInfo(),
      versions: versions(drayBin, tools.env),
      loadBefore,
      loadAfter: loadAverages(),
      results,
      profiles,
      rtts: opts.rtts,
      previousNotes: extractNotes(previous),
      drayBin: relative(root, drayBin) || drayBin,
      aliases: [
        [`docker://${src.host}`, "docker://SRC"],
        [`docker://${dst.host}`, "docker://DST"],
        [work, "WORK"],
      ],
    });
    await mkdir(dirname(outPath), { recursive: true });
    await writeFile(outPath, markdown);
    log(`\nwrote ${outPath}`);
  } finally {
    await stopAll();
  }
}

let options: BenchOptions;
try {
  options = parseOptions(process.argv.slice(2), process.env);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(2);
}
if (options.list) {
  const ids = [
    "reg-reg-30",
    "reg-reg-index",
    "reg-oci",
    "oci-reg",
    "reg-docker-archive",
    "recopy",
    "big-reg-reg",
    "big-reg-oci",
    "inspect",
    "inspect-raw",
    "sync-fresh",
    "sync-idle",
    "version",
  ];
  for (const id of ids) log(id);
} else {
  main(options).catch((err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
