// The CLI entry for tests: the same as bin/dray.js, but importing main from
// the tree the test runs in (src/ under tsx, dist/ when built), so a single
// test file can run with `node --import tsx --test` without a build.
import { main } from "../../src/cli/main.js";

main(process.argv).then((code) => {
  process.exitCode = code;
});
