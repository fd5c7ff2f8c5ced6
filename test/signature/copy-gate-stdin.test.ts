// `dray copy oci-archive:- DST --verify-key KEY`: the gate reads the source,
// then the copy reads it again, and standard input is read once. Refused
// before anything moves, exit 2, one line that speaks of copy (it used to
// borrow sync's "sync needs a file for an oci-archive mirror").
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { dray } from "../cli/run.js";
import { makeTempDir } from "../helpers/tmp.js";
import { FIXTURES, opensslKey } from "./artifacts.js";

describe("copy --verify-key with an archive on standard input", () => {
  it("is refused before anything moves, in words about the gate", async () => {
    const dir = makeTempDir("dray-gate-stdin-");
    const k = opensslKey(dir, "k", "ec");
    const archive = join(dir, "a.tar");
    const made = await dray(["copy", "-q", `oci:${join(FIXTURES, "generated", "image")}:signed`, `oci-archive:${archive}:x`]);
    assert.equal(made.code, 0, made.stderr);
    const r = await dray(["copy", "oci-archive:-", `oci:${join(dir, "out")}:x`, "--verify-key", k.pub], { input: readFileSync(archive) });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, /signature gate .* not standard input/);
    assert.doesNotMatch(r.stderr, /sync/);
    assert.equal(existsSync(join(dir, "out")), false);
  });
});
