import { checkOutputPlace } from "../transport/output-place.js";
import type { Readable } from "node:stream";
import type { CliContext } from "./context.js";
import { WriteStatus } from "./progress.js";
import { writeFileAtomically } from "./sink.js";

/**
 * An output file named on the command line (`copy --digestfile`, `export -o`,
 * `blob -o`) is checked before any work, in words (exit 2), as an archive
 * destination is (checkOutputPlace).
 */
export async function checkOutputFile(path: string, flag: string): Promise<void> {
  await checkOutputPlace(path, `${flag} ${path}`);
}

/**
 * Writes `data` to the `-o FILE` of export or blob. Unless `quiet`: a status line on a terminal and a
 * `Wrote FILE` line at the end; and, on a terminal, one line when FILE is a FIFO nobody reads yet, or the
 * wait would look like a hang.
 */
export async function writeOutputFile(
  ctx: CliContext,
  data: Readable,
  path: string,
  opts: { what: string; total?: number | undefined; quiet?: boolean | undefined },
): Promise<void> {
  const status = new WriteStatus(ctx, opts.what, opts.total);
  const onWait =
    opts.quiet || ctx.stderr.isTTY !== true ? undefined : () => status.note(`waiting for a reader on FIFO ${path} (Ctrl-C to stop)`);
  let written = false;
  try {
    await writeFileAtomically(opts.quiet ? data : status.through(data), path, ctx.signal, onWait);
    written = true;
  } finally {
    // Once: the status line cleared, and on success (unless quiet) the `Wrote FILE` line.
    status.finish(written && !opts.quiet, path);
  }
}
