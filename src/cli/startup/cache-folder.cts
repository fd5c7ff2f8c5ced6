/**
 * Where the CLI keeps compiled code between runs (Node 22.1+: Node's own
 * compile cache; Node 20 has none). DRAY_COMPILE_CACHE=0 turns caching off;
 * DRAY_COMPILE_CACHE=DIR moves it.
 */
import { existsSync, lstatSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** What dist/dray.cjs exports (src/cli/main.ts). */
export interface BundleExports {
  main(argv: string[]): Promise<number>;
}

/** The folder for cache files, or undefined when caching is off or the folder is not safely ours. */
export function cacheFolder(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const setting = env.DRAY_COMPILE_CACHE;
  if (setting !== undefined && /^(0|off|false|no)$/i.test(setting)) return undefined;
  const uid = typeof process.getuid === "function" ? process.getuid() : undefined;
  const dir = setting ? setting : join(tmpdir(), `dray-compile-cache-${uid ?? "user"}`);
  try {
    // An explicit folder is made with its parents; the default one only inside a temporary folder that exists.
    if (setting) mkdirSync(dir, { recursive: true, mode: 0o700 });
    else if (!existsSync(dir)) mkdirSync(dir, { mode: 0o700 });
    const st = lstatSync(dir);
    // In a shared /tmp another user could have made the folder first: use it only if it is ours alone.
    if (!st.isDirectory()) return undefined;
    if (uid !== undefined && (st.uid !== uid || (st.mode & 0o022) !== 0)) return undefined;
    return dir;
  } catch {
    return undefined;
  }
}
