// Shared pieces of the reliability suite (issue 8):
//  - `run`: every dray invocation of the suite goes through it, so all of
//    stdout and stderr is kept and checked for secrets at the end of a file;
//  - `caseIt`: a test that also records one row of the README table (group,
//    case, what was sent, what dray did, pass) in a JSON-lines file, which
//    test/reliability/report.ts turns into the table and the totals;
//  - tree snapshots, layout state, registry tag checks used by several files.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { it } from "node:test";
import { Digest } from "../../src/oci/digest.js";
import { dray, type DrayResult, type RunOptions } from "../cli/run.js";
import { TestRegistryClient, type RegistryTarget } from "../helpers/http.js";

export type Group = "fault" | "lie" | "credential" | "hostile" | "local-user" | "hostile-registry" | "interruption" | "concurrency";

export interface CaseRow {
  group: Group;
  name: string;
  sent: string;
  did: string;
  pass: boolean;
  file: string;
}

/** Where the rows go: one JSON-lines file per test file, rewritten on each run. */
export const RESULTS_DIR = process.env.DRAY_RELIABILITY_RESULTS ?? join(tmpdir(), "dray-reliability-results");

let resultsFile: string | undefined;
let currentFile = "unknown";

/** Called once at the top of each test file with its import.meta.url: starts its results file afresh. */
export function startResults(metaUrl: string): void {
  currentFile = basename(fileURLToPath(metaUrl)).replace(/(\.test)?\.(ts|js)$/, "");
  mkdirSync(RESULTS_DIR, { recursive: true });
  resultsFile = join(RESULTS_DIR, `${currentFile}.jsonl`);
  writeFileSync(resultsFile, "");
}

export function recordRow(row: Omit<CaseRow, "file">): void {
  if (!resultsFile) return;
  appendFileSync(resultsFile, `${JSON.stringify({ ...row, file: currentFile })}\n`);
}

/**
 * A test that is also a row of the table. `fn` returns a short description of
 * what dray did (exit code, what the destination holds); a thrown assertion
 * records the row as failed, with the assertion's first line, and fails the test.
 */
export function caseIt(group: Group, name: string, sent: string, fn: () => Promise<string>, opts: { timeout?: number } = {}): void {
  it(name, { timeout: opts.timeout ?? 120_000 }, async () => {
    let did: string;
    try {
      did = await fn();
    } catch (err) {
      const first = (err instanceof Error ? err.message : String(err)).split("\n")[0] ?? "";
      recordRow({ group, name, sent, did: `FAILED: ${first.slice(0, 200)}`, pass: false });
      throw err;
    }
    recordRow({ group, name, sent, did, pass: true });
  });
}

// ---- the recording CLI wrapper ----

export interface Recorded {
  args: string[];
  stdout: string;
  stderr: string;
}

const outputs: Recorded[] = [];
const secrets = new Set<string>();

/** A password, token or Authorization value that must never be printed. Short strings are refused (they would match by chance). */
export function addSecret(secret: string | undefined): void {
  if (secret === undefined) return;
  assert.ok(secret.length >= 8, "secrets under test must be long enough not to appear by chance");
  secrets.add(secret);
}

/** USER:PASS of a registry handle, registered as secrets (the password, and the Basic header's base64). */
export function credsOf(h: { username?: string; password?: string }): string {
  assert.ok(h.username && h.password, "registry without credentials");
  addSecret(h.password);
  addSecret(Buffer.from(`${h.username}:${h.password}`).toString("base64"));
  return `${h.username}:${h.password}`;
}

/** `dray ARGS…` as a child process; what it printed is kept for the secrets check. */
export async function run(args: string[], opts: RunOptions = {}): Promise<DrayResult> {
  const r = await dray(args, { timeoutMs: 90_000, ...opts });
  outputs.push({ args, stdout: r.stdout, stderr: r.stderr });
  return r;
}

/** Starts dray without waiting, for interruption tests; `wait()` resolves like run(). */
export interface RunningDray {
  child: ChildProcess;
  stderrSoFar(): string;
  wait(): Promise<DrayResult & { signal: NodeJS.Signals | null }>;
}

const ENTRY_DIR = fileURLToPath(new URL("../cli/", import.meta.url));
const FROM_SOURCE = import.meta.url.endsWith(".ts");

export function start(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): RunningDray {
  const entry = join(ENTRY_DIR, FROM_SOURCE ? "dray-entry.ts" : "dray-entry.js");
  const nodeArgs = FROM_SOURCE ? ["--import", "tsx", entry, ...args] : [entry, ...args];
  const child = spawn(process.execPath, nodeArgs, {
    env: { ...process.env, NO_COLOR: "1", ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on("data", (c: Buffer) => out.push(c));
  child.stderr!.on("data", (c: Buffer) => err.push(c));
  const killer = setTimeout(() => child.kill("SIGKILL"), 90_000);
  const done = new Promise<DrayResult & { signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => {
      clearTimeout(killer);
      const stdoutBytes = Buffer.concat(out);
      const r = {
        code: code ?? 128,
        signal,
        stdout: stdoutBytes.toString("utf8"),
        stdoutBytes,
        stderr: Buffer.concat(err).toString("utf8"),
      };
      outputs.push({ args, stdout: r.stdout, stderr: r.stderr });
      resolve(r);
    }),
  );
  return { child, stderrSoFar: () => Buffer.concat(err).toString("utf8"), wait: () => done };
}

/** JWTs (what the token server issues) start with a base64url JSON header. */
const JWT_RE = /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;

/**
 * Fails when any output of any dray run of this file holds a registered secret
 * or something shaped like a bearer token. Returns how many runs were checked.
 */
export function assertNoSecretsPrinted(): number {
  assert.ok(secrets.size > 0 || outputs.length > 0, "nothing was recorded");
  for (const o of outputs) {
    for (const text of [o.stdout, o.stderr]) {
      for (const s of secrets) assert.ok(!text.includes(s), `a secret was printed by dray ${redactArgs(o.args).join(" ")}`);
      assert.ok(!JWT_RE.test(text), `a token was printed by dray ${redactArgs(o.args).join(" ")}:\n${text.slice(0, 400)}`);
    }
  }
  return outputs.length;
}

export function recordedRuns(): readonly Recorded[] {
  return outputs;
}

function redactArgs(args: string[]): string[] {
  return args.map((a) => {
    let out = a;
    for (const s of secrets) out = out.split(s).join("***");
    return out;
  });
}

/** The last line of stderr (the error line), for table rows. */
export function lastLine(stderr: string): string {
  const lines = stderr.trim().split("\n");
  return (lines[lines.length - 1] ?? "").slice(0, 160);
}

// ---- state checks ----

/** Every entry below `dir` (relative path → content digest, link target or "dir"), for "nothing changed" checks. */
export async function snapshotTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  async function walk(rel: string): Promise<void> {
    for (const name of (await readdir(join(dir, rel))).sort()) {
      const r = rel === "" ? name : `${rel}/${name}`;
      const full = join(dir, r);
      const st = await lstat(full);
      if (st.isSymbolicLink()) out[r] = `link:${await readlink(full)}`;
      else if (st.isDirectory()) {
        out[r] = "dir";
        await walk(r);
      } else
        out[r] = `file:${createHash("sha256")
          .update(await readFile(full))
          .digest("hex")}`;
    }
  }
  await walk("");
  return out;
}

export interface LayoutState {
  exists: boolean;
  /** ref.name annotations (or "" for unnamed entries) → digest. */
  refs: Record<string, string>;
  /** Names under blobs/ALG/. */
  blobs: string[];
  /** Files in the layout root other than oci-layout and index.json (dray's temporaries, locks). */
  extras: string[];
}

const REF_NAME = "org.opencontainers.image.ref.name";

export async function layoutState(dir: string): Promise<LayoutState> {
  if (!existsSync(dir)) return { exists: false, refs: {}, blobs: [], extras: [] };
  const refs: Record<string, string> = {};
  if (existsSync(join(dir, "index.json"))) {
    const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as {
      manifests?: Array<{ digest: string; annotations?: Record<string, string> }>;
    };
    for (const m of index.manifests ?? []) refs[m.annotations?.[REF_NAME] ?? ""] = m.digest;
  }
  const blobs: string[] = [];
  if (existsSync(join(dir, "blobs"))) {
    for (const alg of await readdir(join(dir, "blobs")))
      for (const hex of await readdir(join(dir, "blobs", alg))) blobs.push(`${alg}:${hex}`);
  }
  const extras = (await readdir(dir)).filter((n) => n !== "oci-layout" && n !== "index.json" && n !== "blobs");
  return { exists: true, refs, blobs: blobs.sort(), extras };
}

/** Every file under blobs/ is named by the digest of its bytes: no temporary or partial file passes for a blob. */
export async function assertBlobsIntact(dir: string): Promise<number> {
  const state = await layoutState(dir);
  for (const name of state.blobs) {
    const d = Digest.tryParse(name);
    assert.ok(d, `blobs/ holds a file not named by a digest: ${name}`);
    const bytes = await readFile(join(dir, d.blobPath));
    assert.ok(Digest.of(bytes, d.algorithm).equals(d), `blobs/${name} does not hold the bytes its name promises`);
  }
  return state.blobs.length;
}

/** Tags of a repository (empty when the registry does not know it), read with the reference client. */
export async function registryTags(target: RegistryTarget, repo: string): Promise<string[]> {
  const client = new TestRegistryClient(target);
  try {
    const res = await client.request(`/v2/${repo}/tags/list`);
    if (res.status === 404) return [];
    assert.equal(res.status, 200, `tags/list of ${repo}: ${res.status}`);
    return ((JSON.parse(res.body.toString()) as { tags?: string[] | null }).tags ?? []).sort();
  } finally {
    await client.close();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` every 20 ms until it holds (or throws after `ms`). */
export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** A path-safe slug of a case name. */
export function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, 60);
}
