// The CLI entry for tests. Compiled (npm test): bin/dray.cjs itself, so the
// suite runs the bundle users get (dist/dray.cjs, with the compile cache).
// Under tsx (`node --import tsx --test FILE`, no build): main from src/.
import { createRequire } from "node:module";

if (import.meta.url.endsWith(".js")) {
  createRequire(import.meta.url)("../../../bin/dray.cjs");
} else {
  const { main } = await import("../../src/cli/main.js");
  process.exitCode = await main(process.argv);
}
