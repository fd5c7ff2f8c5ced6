/**
 * The entry of the single executable (dist/dray-linux-x64, scripts/build-exe.mjs):
 * the CLI bundled with everything it loads (undici whole, for proxies), run by
 * the Node that the executable is. Node's SEA support compiles it into the
 * executable's code cache, or, when the build makes a start-up snapshot, runs
 * it at build time up to the point where a run begins, which is then restored
 * from the snapshot on every start. The V8 flags are those of bin/dray.cjs's
 * runs (launch.cts), set at run time; DRAY_STARTUP_OFF switches them off here too.
 */
// First: the early stop listener, before the rest of the bundle is evaluated (sea-early.mts).
import "./sea-early.mjs";
import { startupSnapshot } from "node:v8";
import { main } from "../main.js";
import { installEarlyStop } from "./stop-signals.cjs";
import { setV8Flags } from "./launch.cjs";
import { tricksOff } from "./switches.cjs";

function run(): void {
  installEarlyStop(); // restored from a snapshot: the first code of the run (otherwise already on)
  setV8Flags(tricksOff(process.env, (line) => process.stderr.write(`${line}\n`)));
  // A single executable's argv is [executable, executable, ...arguments], as `node script` gives.
  void main(process.argv).then((code) => {
    process.exitCode = code;
  });
}

if (startupSnapshot.isBuildingSnapshot()) startupSnapshot.setDeserializeMainFunction(run);
else run();
