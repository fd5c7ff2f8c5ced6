/**
 * The signals that stop a run, and what dray says when one does. The CLI's
 * own handlers (main.ts) abort the run and clean up; until they are in place
 * (Node's start-up and the loading of the bundle: ~0.2 s, up to ~0.5 s on a
 * loaded machine) a signal kept its default action and killed dray with no
 * word. bin/dray.cjs installs an early listener first thing: a signal caught
 * while the bundle still loads (synchronous code) is handed to main's
 * handlers once they are there, and one handled before that (main not
 * reached, as when the bundle is off and main's modules are imported) ends
 * dray with the same line and status, nothing having been touched yet.
 */
export const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/** 128 + the signal number, as a shell reports a process the signal ended: 130, 143, 129. */
export function signalExitCode(sig: StopSignal): number {
  // Loaded when a signal came, not by every start (the shim's ~0.6 ms).
  const { constants } = require("node:os") as typeof import("node:os");
  return 128 + constants.signals[sig];
}

/** The one line a stopped run ends with. */
export function interruptedLine(sig: StopSignal): string {
  return sig === "SIGINT" ? "dray: interrupted" : `dray: interrupted (${sig})`;
}

/**
 * What the early listener does when a signal reaches it (main not reached, nothing touched): the line, the
 * status. bin/dray.cjs installs that listener itself, first thing, and loads this file only when it fires: a
 * require of this file at every start cost ~0.8 ms of CPU, the listener alone ~0.2 ms.
 */
export function stopEarly(sig: StopSignal): void {
  process.stderr.write(`${interruptedLine(sig)}\n`);
  process.exit(signalExitCode(sig));
}

/** Where bin/dray.cjs leaves its early listener (the global symbol registry: the shim and the bundle share no module). */
const EARLY = Symbol.for("dray.earlyStopListener");
type Holder = { [EARLY]?: (sig: StopSignal) => void };

/**
 * The early listener, first thing in an entry: until main's handlers are on, a stop signal ends dray with its line
 * and status (stopEarly) instead of silently. The single executable's entry (sea-early.mts) calls this; bin/dray.cjs
 * does the same in three lines of its own, since requiring this file at every start cost ~0.8 ms (see stopEarly).
 */
export function installEarlyStop(): void {
  const holder = globalThis as Holder;
  if (holder[EARLY] !== undefined) return;
  for (const sig of STOP_SIGNALS) process.on(sig, stopEarly);
  holder[EARLY] = stopEarly;
}

/**
 * Called by main once its own handlers are on: the shim's early listener goes. Main's are added first, so the
 * signal's watcher stays open and a signal caught in between reaches them (removing the last listener would
 * close the watcher and drop that signal).
 */
export function releaseEarlyStop(): void {
  const holder = globalThis as Holder;
  const listener = holder[EARLY];
  if (listener === undefined) return;
  for (const sig of STOP_SIGNALS) process.off(sig, listener);
  delete holder[EARLY];
}
