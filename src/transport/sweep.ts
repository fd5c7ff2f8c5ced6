// Temporaries a dead dray left behind. SIGINT/SIGTERM/SIGHUP clean up on the
// way out, SIGKILL (and a power cut) cannot: every temporary name dray makes
// carries the writer's pid (see uniqueSuffix), so a later run that writes
// into the same folder removes those whose process is gone. The cost of a
// SIGKILL is then disk space until the next run, not forever.
import { readdir, rm } from "node:fs/promises";
import { isPidAlive } from "./layout/fsutil.js";

/**
 * The pid in a dray temporary's name, or undefined for any other name:
 * `.dray-tmp-PID-HEX` (layout files), `.dray-spool-PID-…` and
 * `.dray-stdin-PID-…` (folders of an archive write or read), and
 * `.NAME.dray-PID-HEX.tmp` (an archive being written beside its target).
 */
export function temporaryOwner(name: string): number | undefined {
  const m = /^\.dray-(?:tmp|spool|stdin)-(\d+)-/.exec(name) ?? /^\..+\.dray-(\d+)-[0-9a-f]+\.tmp$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * Removes the temporaries of processes that no longer run from `dir`.
 * Best effort: an unreadable folder or a file another run removes first is
 * not an error. Pids are those of this host (a folder shared between
 * machines could hold a live writer's file under a pid unknown here; dray's
 * layouts guard that case with host-stamped writer markers, see layout.ts).
 */
export async function sweepDeadTemporaries(dir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const pid = temporaryOwner(name);
    if (pid === undefined || pid === process.pid || isPidAlive(pid)) continue;
    await rm(`${dir}/${name}`, { recursive: true, force: true }).then(
      () => removed++,
      () => undefined,
    );
  }
  return removed;
}
