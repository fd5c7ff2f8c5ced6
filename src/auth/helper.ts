import { spawn } from "node:child_process";
import { CredentialsError } from "../errors.js";

/**
 * The docker credential-helper protocol: `docker-credential-NAME get` reads
 * the server URL on stdin and prints `{"ServerURL","Username","Secret"}`.
 * A helper that has nothing for the server exits non-zero and prints
 * "credentials not found in native keychain"; that is "no credential", every
 * other failure (missing program, timeout, garbage) is an error: never a
 * silent fall-back to anonymous or to another host's secret.
 */
export interface HelperCredential {
  username: string;
  secret: string;
  /** Docker's convention: Username `<token>` means Secret is an identity (refresh) token. */
  isIdentityToken: boolean;
}

export const HELPER_TIMEOUT_MS = 30_000;
const NOT_FOUND_RE = /credentials not found/i;
const MAX_OUTPUT = 64 * 1024;

function helperError(name: string, why: string): CredentialsError {
  return new CredentialsError(`credential helper docker-credential-${name} failed: ${why}`, { where: `docker-credential-${name}` });
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(program: string, name: string, input: string, timeoutMs: number, env: NodeJS.ProcessEnv | undefined): Promise<RunResult> {
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(program, ["get"], { stdio: ["pipe", "pipe", "pipe"], windowsHide: true, env: env ?? process.env });
    let stdout = "";
    let stderr = "";
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      finish(() => reject(helperError(name, `no answer within ${Math.round(timeoutMs / 1000)} s`)));
    }, timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (c: string) => {
      if (stdout.length < MAX_OUTPUT) stdout += c;
    });
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      if (stderr.length < MAX_OUTPUT) stderr += c;
    });
    child.on("error", (err: NodeJS.ErrnoException) => {
      const why = err.code === "ENOENT" ? `${program} not found on PATH` : err.message;
      finish(() => reject(helperError(name, why)));
    });
    child.on("close", (code) => finish(() => resolve({ code, stdout, stderr })));
    // A helper that exits without reading stdin makes the write fail with EPIPE; the exit status tells the story.
    child.stdin.on("error", () => undefined);
    child.stdin.end(input);
  });
}

/** Asks `docker-credential-NAME` for the credential of `serverURL`; undefined when it has none. */
export async function runCredentialHelper(
  name: string,
  serverURL: string,
  timeoutMs = HELPER_TIMEOUT_MS,
  env?: NodeJS.ProcessEnv,
): Promise<HelperCredential | undefined> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw helperError(name, "invalid helper name");
  const result = await run(`docker-credential-${name}`, name, serverURL, timeoutMs, env);
  if (result.code !== 0) {
    if (NOT_FOUND_RE.test(result.stdout) || NOT_FOUND_RE.test(result.stderr)) return undefined;
    const said = (result.stderr.trim() || result.stdout.trim()).split("\n")[0]?.slice(0, 200) ?? "";
    throw helperError(name, `exit status ${result.code ?? "killed"}${said ? `: ${said}` : ""}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(result.stdout);
  } catch {
    throw helperError(name, "its answer is not JSON");
  }
  if (typeof doc !== "object" || doc === null) throw helperError(name, "its answer is not a JSON object");
  const { Username, Secret } = doc as { Username?: unknown; Secret?: unknown };
  if (typeof Secret !== "string" || (Username !== undefined && typeof Username !== "string")) {
    throw helperError(name, "its answer lacks Username/Secret strings");
  }
  const username = typeof Username === "string" ? Username : "";
  if (username === "" && Secret === "") return undefined;
  return { username, secret: Secret, isIdentityToken: username === "<token>" };
}
