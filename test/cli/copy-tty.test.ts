// What a person sees: `dray copy` on a pseudo-terminal (util-linux `script`),
// rendered through a minimal terminal model so the assertions read the final
// screen, not the escape-code stream. Also resolveMode's choices.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { before, describe, it } from "node:test";
import { resolveMode } from "../../src/cli/progress.js";
import { buildIndex, writeOciLayout } from "../helpers/fixtures.js";
import { makeTempDir } from "../helpers/tmp.js";

// Under tsx the entry is the .ts source; in the compiled tree (npm test) it is dist/test/cli/dray-entry.js.
const FROM_SOURCE = import.meta.url.endsWith(".ts");
const ENTRY = fileURLToPath(new URL(FROM_SOURCE ? "./dray-entry.ts" : "./dray-entry.js", import.meta.url));
const NODE_ARGS = FROM_SOURCE ? ["--import", "tsx", ENTRY] : [ENTRY];
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Runs dray under `script` on a 100x30 pseudo-terminal; resolves with everything the terminal received. */
function onPty(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; raw: string }> {
  const quoted = args.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const node = [process.execPath, ...NODE_ARGS].map((a) => `'${a}'`).join(" ");
  const command = `stty cols 100 rows 30; exec ${node} ${quoted}`;
  return new Promise((resolve, reject) => {
    execFile(
      "script",
      ["-qfec", command, "/dev/null"],
      { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024, timeout: 60_000, encoding: "utf8" },
      (err, stdout) => {
        if (err && typeof err.code !== "number") reject(err as Error);
        else resolve({ code: err ? (err.code as number) : 0, raw: stdout });
      },
    );
  });
}

/** Replays cursor movement and erasures (the subset cli-progress and ora use) into the lines left on screen. */
export function finalScreen(raw: string): string[] {
  const lines: string[] = [""];
  let row = 0;
  let col = 0;
  for (let i = 0; i < raw.length;) {
    // eslint-disable-next-line no-control-regex -- terminal escapes and control characters are what this checks
    const esc = /^\u001b\[(\??[0-9;]*)([A-Za-z])/.exec(raw.slice(i, i + 16));
    if (esc) {
      const n = /^\d+$/.test(esc[1]!) ? Number(esc[1]) : 1;
      switch (esc[2]) {
        case "A":
          row = Math.max(0, row - n);
          break;
        case "G":
          col = n - 1;
          break;
        case "K":
          lines[row] = lines[row]!.slice(0, col);
          break;
        case "J":
          lines.length = row + 1;
          lines[row] = lines[row]!.slice(0, col);
          break;
        default:
          break;
      }
      i += esc[0].length;
      continue;
    }
    const ch = raw[i]!;
    i++;
    if (ch === "\u001b") continue;
    if (ch === "\r") col = 0;
    else if (ch === "\n") {
      row++;
      if (row >= lines.length) lines.push("");
    } else {
      const line = lines[row]!.padEnd(col, " ");
      lines[row] = line.slice(0, col) + ch + line.slice(col + 1);
      col++;
    }
  }
  return lines.filter((l) => l.trim() !== "");
}

describe("dray copy on a terminal", () => {
  let dir: string;
  let src: string;

  before(async () => {
    assert.ok(existsSync("/usr/bin/script"), "util-linux script is needed for the pseudo-terminal test");
    dir = makeTempDir("dray-cli-tty-");
    src = join(dir, "src");
    await writeOciLayout(src, await buildIndex({ layerCount: 2, layerSize: 2_000_000, seed: "tty" }), "v1");
  });

  it("shows a spinner, then a bar per blob and a total, and leaves the total and the summary on screen", async () => {
    const { code, raw } = await onPty(["copy", "--jobs", "2", `oci:${src}:v1`, `oci:${dir}/dst:v1`]);
    assert.equal(code, 0, raw);
    assert.ok(raw.includes("\u001b[?25l") && raw.includes("\u001b[?25h"), "the cursor is hidden while drawing and shown again");
    assert.match(raw, /sha256:[0-9a-f]{12} [█░]+ +\d+% \| /, "a bar per blob in flight");
    const screen = finalScreen(raw);
    assert.match(screen[0]!, /^• 4 manifests, 9 blobs, 12\.0 MB$/);
    assert.match(screen[1]!, /^total +█+ 100% \| 12\.0 MB \/ 12\.0 MB \| [\d.]+ [kMG]?B\/s$/);
    assert.match(screen[2]!, /^Copied oci:.* 4 manifests, blobs 9 copied \(12\.0 MB\), 0 skipped in [\d.]+ s$/);
    assert.match(screen[3]!, /^sha256:[0-9a-f]{64}$/);
    assert.equal(screen.length, 4, screen.join("\n"));
  });

  it("--no-color and NO_COLOR keep colour codes out; -q keeps the terminal for the digest alone", async () => {
    const plain = await onPty(["--no-color", "copy", `oci:${src}:v1`, `oci:${dir}/nocolor:v1`]);
    assert.equal(plain.code, 0, plain.raw);
    // eslint-disable-next-line no-control-regex -- terminal escapes and control characters are what this checks
    assert.ok(!/\u001b\[3\dm/.test(plain.raw), "no SGR colour codes");
    const quiet = await onPty(["copy", "-q", `oci:${src}:v1`, `oci:${dir}/quiet:v1`]);
    assert.equal(quiet.code, 0);
    assert.deepEqual(
      finalScreen(quiet.raw).map((l) => l.trim()),
      [quiet.raw.trim()],
    );
    assert.match(quiet.raw.trim(), /^sha256:[0-9a-f]{64}$/);
  });

  it("an archive to - on a terminal is refused, as docker save does; reading one from - on a terminal does not wait (issue 19)", async () => {
    const out = await onPty(["copy", "--platform", "linux/amd64", `oci:${src}:v1`, "docker-archive:-"]);
    assert.equal(out.code, 2, out.raw);
    assert.match(out.raw, /dray: refusing to write an archive to a terminal/);
    assert.ok(!out.raw.includes("ustar"), "no tar bytes reached the terminal");
    const input = await onPty(["copy", "oci-archive:-", `oci:${dir}/from-tty:v1`]);
    assert.equal(input.code, 2, input.raw);
    assert.match(input.raw, /dray: standard input is a terminal/);
  });
});

describe("resolveMode", () => {
  it("auto is bars on a sized terminal, plain lines elsewhere, nothing when quiet", () => {
    assert.equal(resolveMode("auto", false, { isTTY: true, columns: 80 }), "bar");
    assert.equal(resolveMode("auto", false, { isTTY: false }), "plain");
    assert.equal(resolveMode("auto", false, {}), "plain");
    // A pseudo-terminal nobody sized reports 0 columns; ora would loop dividing by it.
    assert.equal(resolveMode("auto", false, { isTTY: true, columns: 0 }), "plain");
    assert.equal(resolveMode("bar", false, { isTTY: true, columns: 0 }), "plain");
    assert.equal(resolveMode("json", true, { isTTY: true, columns: 80 }), "none");
    assert.equal(resolveMode("json", false, { isTTY: false }), "json");
  });
});
