// Turns the rows the reliability suite recorded (one JSON-lines file per test
// file in RESULTS_DIR) into the Markdown table and totals of
// test/reliability/README.md.
//
//   npm run build && node scripts/run-tests.mjs reliability   # or npm test
//   node --import tsx test/reliability/report.ts             # prints the Markdown
//   node --import tsx test/reliability/report.ts --write     # replaces the README's generated part
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { RESULTS_DIR, type CaseRow, type Group } from "./support.js";

const GROUPS: Array<{ group: Group; title: string }> = [
  { group: "fault", title: "Faults (fault proxy in front of a real registry, during a real `dray copy`)" },
  { group: "lie", title: "Lies (a registry or token endpoint that answers falsely)" },
  { group: "credential", title: "Credentials" },
  { group: "hostile", title: "Hostile local input" },
  { group: "local-user", title: "Another local user (a second account, `nobody`, on the same machine)" },
  { group: "hostile-registry", title: "Hostile registry (a small server of the tests' own)" },
  { group: "interruption", title: "Interruption (SIGINT / SIGKILL at a point held by the proxy)" },
  { group: "concurrency", title: "Concurrency" },
];

const BEGIN = "<!-- BEGIN GENERATED: node --import tsx test/reliability/report.ts --write -->";
const END = "<!-- END GENERATED -->";

function readRows(): CaseRow[] {
  if (!existsSync(RESULTS_DIR)) return [];
  return readdirSync(RESULTS_DIR)
    .filter((f) => f.endsWith(".jsonl"))
    .sort()
    .flatMap((f) =>
      readFileSync(join(RESULTS_DIR, f), "utf8")
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l) as CaseRow),
    );
}

/** Stable, short text: temporary paths, ports and long digests vary from run to run. */
function tidy(text: string): string {
  return text
    .replace(/\/tmp\/dray-[A-Za-z0-9-]+\/[^\s"')]*/g, "…")
    .replace(/127\.0\.0\.([12]):\d{2,5}/g, "127.0.0.$1:PORT")
    .replace(/\b(sha256:[0-9a-f]{12})[0-9a-f]{52}\b/g, "$1…")
    .replace(/\|/g, "\\|")
    .replace(/\n/g, " ");
}

/** Property runs configured in the fast-check suites (FC_RUNS defaults to 500 in test/fuzz). */
function fuzzRuns(): { runs: number; properties: number } {
  const root = fileURLToPath(new URL("../", import.meta.url));
  let runs = 0;
  let properties = 0;
  const fcRuns = Number(process.env.FC_RUNS ?? 500);
  for (const rel of ["fuzz/parsers.test.ts", "auth/challenge.test.ts"]) {
    const file = join(root, rel);
    if (!existsSync(file)) continue;
    const text = readFileSync(file, "utf8");
    const literal = [...text.matchAll(/numRuns:\s*([\d_]+)/g)].map((m) => Number(m[1]!.replace(/_/g, "")));
    const checks = [...text.matchAll(/^\s+check\(/gm)].length;
    properties += checks + literal.length;
    runs += checks * fcRuns + literal.reduce((a, b) => a + b, 0);
  }
  return { runs, properties };
}

export function render(rows: CaseRow[]): string {
  const out: string[] = [];
  const count = (g: Group, pred: (r: CaseRow) => boolean = () => true): [number, number] => {
    const all = rows.filter((r) => r.group === g && pred(r));
    return [all.filter((r) => r.pass).length, all.length];
  };
  const cleared = (r: CaseRow): boolean => !/never clears/.test(r.name);
  const [fs, ft] = count("fault", cleared);
  const [fn, fnt] = count("fault", (r) => !cleared(r));
  const [ls, lt] = count("lie");
  const [cs, ct] = count("credential");
  const [hs, ht] = count("hostile");
  const [us, ut] = count("local-user");
  const [rs, rt] = count("hostile-registry");
  const [is, it] = count("interruption");
  const [ks, kt] = count("concurrency");
  const fuzz = fuzzRuns();
  out.push("### Totals", "");
  out.push(`- **Faults survived: ${fs}/${ft}** (the fault clears and the copy completes, skopeo reads every digest)`);
  out.push(`- **Faults that never clear, failing cleanly: ${fn}/${fnt}** (one error line, exit 1, no tag written)`);
  out.push(`- **Lies refused: ${ls}/${lt}**`);
  out.push(
    `- **Credential checks passed: ${cs}/${ct}** (plus a scan of every run's output for passwords, Basic values and tokens in each test file)`,
  );
  out.push(`- **Hostile inputs refused: ${hs}/${ht}**`);
  out.push(`- **Another local user's attacks refused: ${us}/${ut}**`);
  out.push(`- **Hostile registry attacks bounded: ${rs}/${rt}**`);
  out.push(`- **Interruptions clean: ${is}/${it}**`);
  out.push(`- **Concurrency: ${ks}/${kt}**`);
  out.push(
    `- **Fuzz runs: ${fuzz.runs}** over ${fuzz.properties} fast-check properties (test/fuzz/parsers.test.ts, test/auth/challenge.test.ts; FC_RUNS=${process.env.FC_RUNS ?? 500})`,
  );
  out.push("");
  for (const { group, title } of GROUPS) {
    const mine = rows.filter((r) => r.group === group);
    if (mine.length === 0) continue;
    out.push(`### ${title}`, "", "| case | what is sent | what dray did | pass |", "|---|---|---|---|");
    for (const r of mine) out.push(`| ${tidy(r.name)} | ${tidy(r.sent)} | ${tidy(r.did)} | ${r.pass ? "✔" : "✘"} |`);
    out.push("");
  }
  return out.join("\n");
}

function main(): void {
  const rows = readRows();
  if (rows.length === 0) {
    console.error(`no results under ${RESULTS_DIR}: run the suite first`);
    process.exit(1);
  }
  const text = render(rows);
  if (!process.argv.includes("--write")) {
    process.stdout.write(`${text}\n`);
    return;
  }
  const readme = fileURLToPath(new URL("./README.md", import.meta.url)).replace(/\/dist\/test\//, "/test/");
  const old = readFileSync(readme, "utf8");
  const a = old.indexOf(BEGIN);
  const b = old.indexOf(END);
  if (a < 0 || b < a) throw new Error(`${readme} lacks the generated-section markers`);
  writeFileSync(readme, `${old.slice(0, a + BEGIN.length)}\n\n${text}\n${old.slice(b)}`);
  console.error(`updated ${readme} from ${rows.length} rows`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
