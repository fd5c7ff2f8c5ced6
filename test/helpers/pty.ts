// dray on a pseudo-terminal (util-linux `script`), and a minimal terminal model
// that replays what it drew, so assertions read the final screen rather than the
// escape-code stream.
import { execFile, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

// Under tsx the entry is the .ts source; in the compiled tree (npm test) it is dist/test/cli/dray-entry.js.
const FROM_SOURCE = import.meta.url.endsWith(".ts");
const ENTRY = fileURLToPath(new URL(FROM_SOURCE ? "../cli/dray-entry.ts" : "../cli/dray-entry.js", import.meta.url));
const NODE_ARGS = FROM_SOURCE ? ["--import", "tsx", ENTRY] : [ENTRY];
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** `script`'s arguments that run dray with `args` on a pseudo-terminal `cols` wide. */
function scriptArgs(args: string[], cols: number): string[] {
  const quoted = args.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const node = [process.execPath, ...NODE_ARGS].map((a) => `'${a}'`).join(" ");
  return ["-qfec", `stty cols ${cols} rows 30; exec ${node} ${quoted}`, "/dev/null"];
}

/** Runs dray under `script` on a pseudo-terminal (100x30 unless `cols` says); resolves with everything the terminal received. */
export function onPty(args: string[], env: NodeJS.ProcessEnv = {}, cols = 100): Promise<{ code: number; raw: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      "script",
      scriptArgs(args, cols),
      { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024, timeout: 60_000, encoding: "utf8" },
      (err, stdout) => {
        if (err && typeof err.code !== "number") reject(err as Error);
        else resolve({ code: err ? (err.code as number) : 0, raw: stdout });
      },
    );
  });
}

/**
 * As onPty, for a test that acts while dray runs: `until(text)` resolves once the terminal received `text`
 * (a test waits for what dray says rather than for a guessed time; it fails, dray killed, after `waitMs`),
 * `done` as onPty's promise.
 */
export function startOnPty(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  cols = 100,
): { until: (text: string, waitMs?: number) => Promise<void>; done: Promise<{ code: number; raw: string }> } {
  const child = spawn("script", scriptArgs(args, cols), {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let raw = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (raw += c));
  const done = new Promise<{ code: number; raw: string }>((resolve) => child.on("close", (code) => resolve({ code: code ?? 1, raw })));
  const until = async (text: string, waitMs = 30_000): Promise<void> => {
    let ended = false;
    void done.then(() => (ended = true));
    for (const start = Date.now(); !raw.includes(text); await new Promise((r) => setTimeout(r, 50))) {
      if (ended) throw new Error(`dray ended without printing ${JSON.stringify(text)}: ${JSON.stringify(raw)}`);
      if (Date.now() - start > waitMs) {
        child.kill("SIGKILL");
        throw new Error(`dray printed no ${JSON.stringify(text)} in ${waitMs} ms: ${JSON.stringify(raw)}`);
      }
    }
  };
  return { until, done };
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
