import type { Writable } from "node:stream";

/** What every command gets from the entry point: streams, terminal facts and the run's abort signal. */
export interface CliContext {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  /** Aborted on SIGINT; every long operation passes it down. */
  signal: AbortSignal;
  /** Colour allowed: stderr is a TTY, no NO_COLOR, no --no-color. */
  color: boolean;
  /** `--debug`: request lines and stack traces on stderr. */
  debug: boolean;
  /** Writes one message line to stderr. */
  message(line: string): void;
}
