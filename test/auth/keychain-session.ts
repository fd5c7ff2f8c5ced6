// A private D-Bus session with an unlocked gnome-keyring Secret Service, so
// the OS-keychain path runs for real on a headless machine:
//   dbus-run-session -- sh -c 'gnome-keyring-daemon --unlock --components=secrets; …'
// Everything lives under a temporary HOME/XDG dirs; ending the session (closing
// the shell's stdin) stops the bus, and the keyring daemon with it.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { makeTempDir, onCleanup } from "../helpers/tmp.js";

export interface KeyringSession {
  /** Environment for processes that should see this keyring (DBUS_SESSION_BUS_ADDRESS, HOME, XDG_*). */
  env: NodeJS.ProcessEnv;
  /** `secret-tool ARGS…` inside the session; stdout trimmed, null when it exits non-zero. */
  secretTool(args: string[]): string | null;
  stop(): Promise<void>;
}

const TOOLS = ["dbus-run-session", "gnome-keyring-daemon", "secret-tool"];

/** Fails loudly (never skips) when the Debian packages are missing, naming them. */
export function requireKeyringTools(): void {
  for (const t of TOOLS) {
    const r = spawnSync("sh", ["-c", `command -v ${t}`]);
    if (r.status !== 0)
      throw new Error(`${t} not found: apt-get install -y dbus gnome-keyring libsecret-1-0 libsecret-tools (see .ci/run)`);
  }
}

export async function startKeyringSession(): Promise<KeyringSession> {
  requireKeyringTools();
  const dir = makeTempDir("dray-keyring-");
  const base: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: join(dir, "home"),
    XDG_DATA_HOME: join(dir, "data"),
    XDG_CONFIG_HOME: join(dir, "config"),
    XDG_RUNTIME_DIR: dir,
  };
  // The login keyring is created on first unlock with this password; a non-empty one avoids a GUI prompt.
  const script =
    'mkdir -p "$HOME" && printf keyring-pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; echo "$DBUS_SESSION_BUS_ADDRESS"; exec cat';
  const child: ChildProcess = spawn("dbus-run-session", ["--", "sh", "-c", script], { env: base, stdio: ["pipe", "pipe", "pipe"] });
  child.stderr?.resume();
  const lines = createInterface({ input: child.stdout! });
  const address = await new Promise<string>((resolve, reject) => {
    lines.once("line", (l) => resolve(l.trim()));
    child.once("exit", (code) => reject(new Error(`dbus-run-session exited early (${code})`)));
  });
  if (!address) throw new Error("no D-Bus session address");
  const env = { ...base, DBUS_SESSION_BUS_ADDRESS: address };
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async (): Promise<void> => {
    child.stdin?.end();
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  };
  onCleanup(stop, () => child.kill("SIGKILL"));
  return {
    env,
    secretTool: (args) => {
      const r = spawnSync("secret-tool", args, { env, encoding: "utf8", timeout: 20_000 });
      return r.status === 0 ? r.stdout.trim() : null;
    },
    stop,
  };
}
