// The one JSON key rule (README, "Output formats"), held against every command that
// prints JSON: every key is capitalised as skopeo's are (`Digest`, `Blobs.Copied`,
// `Platform.Os`), at every depth; only the keys inside data maps (`Labels`,
// `Annotations`) are the image's own. `--progress json` events are a stream of their
// own (lowercase keys, checked in progress.test.ts).
//
// Table-driven: a command that gains `--format` needs a row in ROWS (the last test
// finds commands without one), so a new command cannot start a second spelling.
import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { isolatedEnv } from "../auth/login-env.js";
import { buildIndex, pushImage, writeOciLayout } from "../helpers/fixtures.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";
import { opensslKey } from "../signature/artifacts.js";
import { pushSignedImage } from "../sync/artifacts.js";
import { buildProgram } from "../../src/cli/main.js";
import { dray } from "./run.js";

/** What a key must look like outside a data map. */
const KEY_RULE = /^[A-Z][A-Za-z0-9]*$/;
/** Maps whose keys are data (label names, annotation keys), not field names. */
const DATA_MAPS = new Set(["Labels", "Annotations"]);

/** Every key of `doc` that breaks the rule, as a path (`$.Manifests[0].Platform.os`). */
export function keysBreakingRule(doc: unknown, path = "$"): string[] {
  if (Array.isArray(doc)) return doc.flatMap((v, i) => keysBreakingRule(v, `${path}[${i}]`));
  if (typeof doc !== "object" || doc === null) return [];
  const bad: string[] = [];
  for (const [k, v] of Object.entries(doc)) {
    if (!KEY_RULE.test(k)) bad.push(`${path}.${k}`);
    if (!DATA_MAPS.has(k)) bad.push(...keysBreakingRule(v, `${path}.${k}`));
  }
  return bad;
}

interface World {
  reg: RegistryHandle;
  auth: RegistryHandle;
  dir: string;
  env: NodeJS.ProcessEnv;
  /** A public key that signed nothing here: verify refuses (exit 6) and still prints its verdict. */
  key: string;
  /** A private key for `dray sign`. */
  signKey: string;
}

interface Row {
  /** The subcommand as commander knows it (`cat`, `ls`, …): the coverage test matches on it. */
  command: string;
  what: string;
  args: (w: World) => string[];
  input?: (w: World) => string;
  /** The exit code the row expects (0 unless said). */
  code?: number;
}

/** One row per way a command prints JSON; add yours when a command gains --format json. */
const ROWS: Row[] = [
  { command: "inspect", what: "an image (Labels keep their keys)", args: (w) => ["inspect", `${w.reg.host}/signed:1`] },
  { command: "inspect", what: "an index (Platform)", args: (w) => ["inspect", `oci:${w.dir}/multi:1`] },
  {
    command: "inspect",
    what: "--platform",
    args: (w) => ["inspect", "--platform", "linux/arm64/v8", `${w.reg.host}/multi:1`],
  },
  { command: "digest", what: "", args: (w) => ["digest", "-f", "json", `${w.reg.host}/multi:1`] },
  { command: "copy", what: "one image", args: (w) => ["copy", "-q", "-f", "json", `${w.reg.host}/multi:1`, `oci:${w.dir}/out:1`] },
  {
    command: "copy",
    what: "--referrers",
    args: (w) => ["copy", "-q", "-f", "json", "--referrers", `${w.reg.host}/signed:1`, `oci:${w.dir}/signed:1`],
  },
  {
    command: "copy",
    what: "--all-tags",
    args: (w) => ["copy", "-q", "-f", "json", "--all-tags", `${w.reg.host}/multi`, `oci:${w.dir}/all`],
  },
  { command: "tag", what: "", args: (w) => ["tag", "-f", "json", `oci:${w.dir}/out:1`, "2"] },
  { command: "delete", what: "", args: (w) => ["delete", "-f", "json", `oci:${w.dir}/out:2`] },
  { command: "ls", what: "tags", args: (w) => ["ls", "-f", "json", `${w.reg.host}/multi`] },
  { command: "ls", what: "--catalog", args: (w) => ["ls", "-f", "json", "--catalog", w.reg.host] },
  { command: "cat", what: "--list", args: (w) => ["cat", "--list", "-f", "json", "--platform", "linux/amd64", `oci:${w.dir}/multi:1`] },
  {
    command: "verify",
    what: "a refusal with each signature's verdict",
    args: (w) => ["verify", "-f", "json", "--key", w.key, "--require-each", `${w.reg.host}/signed:1`],
    code: 6,
  },
  { command: "referrers", what: "a nested tree", args: (w) => ["referrers", "-f", "json", `${w.reg.host}/signed:1`] },
  { command: "sync", what: "", args: (w) => ["sync", "-q", "-f", "json", `${w.reg.host}/signed`, `oci:${w.dir}/mirror`] },
  { command: "sync", what: "--dry-run", args: (w) => ["sync", "-q", "-f", "json", "--dry-run", `${w.reg.host}/multi`, `oci:${w.dir}/dry`] },
  {
    command: "sync",
    what: "--shard",
    args: (w) => ["sync", "-q", "-f", "json", "--shard", "1/2", "--skip-existing", `${w.reg.host}/signed`, `oci:${w.dir}/mirror`],
  },
  { command: "ls", what: "a folder of layouts (sync's oci:DIR)", args: (w) => ["ls", "-f", "json", `oci:${w.dir}/mirror`] },
  { command: "ratelimit", what: "", args: (w) => ["ratelimit", "-f", "json", `${w.reg.host}/multi:1`] },
  {
    command: "login",
    what: "",
    args: (w) => ["login", "-f", "json", w.auth.host, "-u", w.auth.username!, "--password-stdin"],
    input: (w) => `${w.auth.password}\n`,
  },
  {
    command: "index",
    what: "create (the Index document's own keys too, Annotations kept)",
    args: (w) => ["index", "create", "-q", "-f", "json", "--annotation", "org.example.a=b", `oci:${w.dir}/idx:1`, `oci:${w.dir}/multi:1`],
  },
  {
    command: "mutate",
    what: "",
    args: (w) => ["mutate", "-q", "-f", "json", "--label", "a=b", `oci:${w.dir}/multi:1`, `oci:${w.dir}/mutated:1`],
  },
  {
    command: "append",
    what: "",
    args: (w) => ["append", "-q", "-f", "json", `oci:${w.dir}/multi:1`, "--layer", `${w.dir}/multi/blobs`, "-t", `oci:${w.dir}/appended:1`],
  },
  {
    command: "attach",
    what: "",
    args: (w) => [
      "attach",
      "-q",
      "-f",
      "json",
      `${w.reg.host}/signed:1`,
      "--artifact-type",
      "application/vnd.example.report+json",
      "--annotation",
      "org.example.k=v",
      `${w.dir}/multi/index.json:application/json`,
    ],
  },
  // Last: it adds referrers to multi:1, which the rows above read.
  {
    command: "sign",
    what: "(--output-format: --format names the signature format)",
    args: (w) => ["sign", "-q", "--output-format", "json", "--format", "both", "--key", w.signKey, `${w.reg.host}/multi:1`],
  },
];

/** Commands that print no JSON at all, and why. */
const NO_JSON: Record<string, string> = {
  completion: "prints a shell script",
  logout: "prints nothing on stdout",
  export: "prints a tar",
  blob: "prints the blob's bytes",
  index: "its subcommands (create, append, remove) have --format; see the index row",
};

describe("one JSON key rule for every command (README, Output formats)", () => {
  const w = {} as World;

  before(async () => {
    w.reg = await startRegistry({ deleteEnabled: true });
    w.auth = await startRegistry({ mode: "htpasswd" });
    w.dir = makeTempDir();
    w.env = isolatedEnv().env;
    const index = await buildIndex({ seed: "json-keys" });
    await pushImage({ url: w.reg.url }, "multi", "1", index);
    await writeOciLayout(join(w.dir, "multi"), index, "1");
    await pushSignedImage({ url: w.reg.url }, "signed", "1", "json-keys");
    w.key = opensslKey(w.dir, "json-keys", "ec").pub;
    w.signKey = opensslKey(w.dir, "json-keys-sign", "ed25519").key;
  });

  for (const row of ROWS) {
    it(`${row.command}${row.what ? ` ${row.what}` : ""}`, async () => {
      const args = row.args(w);
      const r = await dray(args, { env: w.env, ...(row.input ? { input: row.input(w) } : {}) });
      assert.equal(r.code, row.code ?? 0, `dray ${args.join(" ")}: ${r.stderr}`);
      const doc = JSON.parse(r.stdout) as unknown;
      assert.deepEqual(keysBreakingRule(doc), [], `dray ${args.join(" ")} printed keys outside the rule:\n${r.stdout}`);
    });
  }

  it("the checker itself finds lowercase keys, also nested, and leaves data maps alone", () => {
    assert.deepEqual(keysBreakingRule({ Digest: "x", Platform: { os: "linux" }, Labels: { "a.b": "c" }, Items: [{ path: "/" }] }), [
      "$.Platform.os",
      "$.Items[0].path",
    ]);
  });

  it("every command with --format has a row (or says why it prints no JSON)", () => {
    const program = buildProgram({
      stdout: process.stdout,
      stderr: process.stderr,
      signal: new AbortController().signal,
      color: false,
      debug: false,
      message: () => undefined,
    });
    const covered = new Set(ROWS.map((r) => r.command));
    const missing: string[] = [];
    for (const cmd of program.commands) {
      const name = cmd.name();
      // `dray sign` prints JSON with --output-format (its --format is the signature's format, CLI.md).
      const hasFormat = cmd.options.some((o) => o.long === "--format" || o.long === "--output-format");
      if (hasFormat && !covered.has(name)) missing.push(name);
      if (!hasFormat && !(name in NO_JSON)) missing.push(`${name} (no --format: add it, or say why in NO_JSON)`);
    }
    assert.deepEqual(missing, []);
  });
});
