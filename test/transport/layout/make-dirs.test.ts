// makeDirs (the `mkdir -p` of layout destinations): several writers of one run
// make sibling layouts under parents none of them has yet, as sync does with
// team/app, team/tool and team/web; each must get its folder, and only what
// it made itself is reported as made.
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { makeDirs } from "../../../src/transport/layout/fsutil.js";
import { makeTempDir } from "../../helpers/tmp.js";

describe("makeDirs", () => {
  it("siblings made at once under shared missing parents all succeed (a lost race on a parent is no error)", async () => {
    for (let round = 0; round < 20; round++) {
      const root = join(makeTempDir("dray-makedirs-"), "usb");
      const leaves = ["app", "tool", "web", "db"].map((n) => join(root, "team", n));
      const made = await Promise.all(leaves.map((l) => makeDirs(l)));
      for (const l of leaves) assert.ok(statSync(l).isDirectory(), l);
      // Exactly one writer made the top folder; every writer made at least its own leaf.
      assert.equal(made.filter((m) => m === root).length, 1, `round ${round}: ${made.join(", ")}`);
      for (const [i, m] of made.entries()) assert.ok(m !== undefined && leaves[i]!.startsWith(m), `round ${round}: ${m}`);
    }
  });

  it("an existing folder is no news; a file in the way is refused", async () => {
    const dir = makeTempDir("dray-makedirs-");
    assert.equal(await makeDirs(dir), undefined);
    await assert.rejects(makeDirs(join(__filenameOrSelf(), "x")));
  });
});

function __filenameOrSelf(): string {
  return new URL(import.meta.url).pathname;
}
