/**
 * Elapsed time for summaries. process.hrtime rather than `performance`:
 * the latter loads node:perf_hooks and its dozen internal modules, a few
 * milliseconds of start-up that a short CLI run notices.
 */
export function stopwatch(): () => number {
  const started = process.hrtime.bigint();
  return () => Number(process.hrtime.bigint() - started) / 1e9;
}
