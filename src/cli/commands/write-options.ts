import { Option, type Command } from "commander";
import { parseCount } from "../options.js";
import { PROGRESS_MODES, type ProgressMode } from "../progress.js";

/** The flags of the commands that write an assembled image (index, mutate, append). */
export interface WriteFlags {
  jobs?: number;
  format?: string;
  quiet?: boolean;
  progress: ProgressMode;
}

/** Declares `-j`, `-f`, `-q` and `--progress` as copy has them. */
export function addWriteOptions(cmd: Command): Command {
  return cmd
    .option("-j, --jobs <n>", "blobs in flight at once (default: a 64 MiB window, up to 16 blobs)", parseCount("--jobs", 1))
    .option("--force", "replace an existing file at an oci-archive:/docker-archive: destination that is not such an archive")
    .option("-f, --format <format>", "text (the new digest), json, or a Go template such as '{{.Digest}}'")
    .option("-q, --quiet", "no progress and no messages, only data on stdout")
    .addOption(new Option("--progress <mode>", "progress on stderr").choices(PROGRESS_MODES).default("auto"));
}
