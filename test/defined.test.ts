// defined(): the helper behind `...defined({ a, b })` drops only undefined
// fields (issue 32 item 9); spreads that test truthiness were left as they
// are, since this keeps "", 0, false and null.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { defined } from "../src/defined.js";

describe("defined", () => {
  it("drops the fields whose value is undefined, keeping the others in order", () => {
    const out = defined({ a: 1, b: undefined, c: "x", d: undefined });
    assert.deepEqual(out, { a: 1, c: "x" });
    assert.deepEqual(Object.keys(out), ["a", "c"]);
    assert.equal("b" in out, false);
  });

  it("keeps every other falsy value: a truthiness test is not the same thing", () => {
    assert.deepEqual(defined({ s: "", n: 0, f: false, z: null, nan: Number.NaN }), { s: "", n: 0, f: false, z: null, nan: Number.NaN });
  });

  it("spreads into a literal as the conditional spreads did", () => {
    const tag: string | undefined = undefined;
    const signal = new AbortController().signal;
    assert.deepEqual({ isTop: true, ...defined({ tag, signal }) }, { isTop: true, signal });
  });
});
