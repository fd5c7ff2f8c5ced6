// A CliContext that writes nowhere: for tests that build dray's commander
// program in-process to look at what it declares.
import { PassThrough } from "node:stream";
import type { CliContext } from "../../src/cli/context.js";

export function silentContext(): CliContext {
  const sink = new PassThrough();
  return { stdout: sink, stderr: sink, signal: new AbortController().signal, color: false, debug: false, message: () => undefined };
}
