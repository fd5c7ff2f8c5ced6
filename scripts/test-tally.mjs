// A node:test reporter beside the spec one (scripts/run-tests.mjs): one JSON
// line per test that ended, so the runner can count what passed and failed
// and tell a test file whose process was ended by a signal (the kernel, a
// machine under load; `test failed` with no detail in the spec output) from a
// failing test. Suites are not counted, as the spec reporter's summary does not.
export default async function* tally(source) {
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const { data } = event;
    if (data.details?.type === "suite") continue;
    const error = data.details?.error;
    let kind;
    if (data.skip !== undefined) kind = "skipped";
    else if (data.todo !== undefined) kind = "todo";
    else if (event.type === "test:pass") kind = "passed";
    else if (error?.failureType === "cancelledByParent") kind = "cancelled";
    // The file's own process ended by a signal: node reports the file itself as the failed test.
    else if (error?.signal && error.exitCode === null && data.file && data.name.endsWith(data.file.split("/").pop())) kind = "killed";
    else kind = "failed";
    yield `${JSON.stringify({ kind, file: data.file, name: data.name, ...(kind === "killed" ? { signal: error.signal } : {}) })}\n`;
  }
}
