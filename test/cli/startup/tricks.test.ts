// DRAY_STARTUP_OFF names the start-up tricks to turn off (src/cli/startup/README.md).
// Whether each trick still moves its number is a benchmark, not a test:
// `npm run bench:tricks` (bench/tricks.ts).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TRICKS, tricksOff } from "../../../src/cli/startup/switches.cjs";

describe("DRAY_STARTUP_OFF", () => {
  it("names tricks, all of them, and warns about unknown names", () => {
    const warnings: string[] = [];
    assert.deepEqual([...tricksOff({})], []);
    assert.deepEqual([...tricksOff({ DRAY_STARTUP_OFF: "all" })].sort(), Object.keys(TRICKS).sort());
    assert.deepEqual([...tricksOff({ DRAY_STARTUP_OFF: " Cache, maxopt ,nope" }, (l) => warnings.push(l))].sort(), ["cache", "maxopt"]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /^dray: DRAY_STARTUP_OFF: unknown trick "nope" ignored \(known: all, none, version, bundle/);
  });

  it("reads 0, false, no and none as nothing off, without a warning (the usual way to unset a switch)", () => {
    const warnings: string[] = [];
    for (const value of ["0", "false", "No", "none", " 0 "]) {
      assert.deepEqual([...tricksOff({ DRAY_STARTUP_OFF: value }, (l) => warnings.push(l))], [], value);
    }
    assert.deepEqual(warnings, []);
  });
});
