// `dray login` on a terminal: the user name is asked for, the password is
// read with echo off. A real pseudo-terminal comes from util-linux `script`;
// the answers are typed only once each prompt has appeared, as a person would.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { startRegistry } from "../helpers/registry.js";
import { isolatedEnv } from "./login-env.js";

const fromSource = import.meta.url.endsWith(".ts");
const ENTRY = fileURLToPath(new URL(fromSource ? "../cli/dray-entry.ts" : "../cli/dray-entry.js", import.meta.url));

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Runs `dray ARGS` on a pty; `answers` maps a prompt to the line typed after it appears. */
async function onTerminal(
  args: string[],
  env: NodeJS.ProcessEnv,
  answers: Array<[string, string]>,
): Promise<{ code: number; screen: string }> {
  const node = [process.execPath, ...(fromSource ? ["--import", "tsx"] : []), ENTRY, ...args].map(shellQuote).join(" ");
  const child = spawn("script", ["-q", "-e", "-c", node, "/dev/null"], {
    env: { ...process.env, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let screen = "";
  const pending = [...answers];
  child.stdout.on("data", (c: Buffer) => {
    screen += c.toString();
    const next = pending[0];
    if (next && screen.includes(next[0])) {
      pending.shift();
      child.stdin.write(`${next[1]}\r`);
    }
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? 1)));
  clearTimeout(timer);
  child.stdin.destroy();
  return { code, screen };
}

describe("dray login on a terminal", () => {
  it("prompts for user and password, never echoes the password, and stores the credential", async (t) => {
    if (spawnSync("sh", ["-c", "command -v script"]).status !== 0) {
      if (process.env.CI === "true") throw new Error("util-linux `script` is required");
      t.skip("no `script` (util-linux) to provide a pseudo-terminal");
      return;
    }
    const reg = await startRegistry({ mode: "htpasswd" });
    const { env, configPath } = isolatedEnv();
    const r = await onTerminal(["login", reg.host], env, [
      ["Username: ", reg.username!],
      ["Password: ", reg.password!],
    ]);
    assert.equal(r.code, 0, r.screen);
    assert.match(r.screen, /Username: /);
    assert.match(r.screen, /Password: /);
    assert.ok(r.screen.includes(reg.username!), "the user name is echoed");
    assert.ok(!r.screen.includes(reg.password!), `the password must not appear on the terminal:\n${r.screen}`);
    assert.match(r.screen, /Login Succeeded/);
    const doc = JSON.parse(await readFile(configPath, "utf8")) as { auths: Record<string, { auth: string }> };
    assert.equal(Buffer.from(doc.auths[reg.host]!.auth, "base64").toString(), `${reg.username}:${reg.password}`);
  });
});
