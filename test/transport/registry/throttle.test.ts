// The per-host throttle's bookkeeping (its bounds under load are shown
// against the real registry in test/sync/throttle.test.ts): slots are handed
// over in order, an abandoned wait gives its place up, a release counts once.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Throttle } from "../../../src/transport/registry/http/throttle.js";

describe("registry throttle", () => {
  it("hands slots over in order; an aborted wait leaves the queue; releasing twice frees one slot", async () => {
    const t = new Throttle("r.example.com", { concurrency: 1 });
    const first = await t.acquire();
    const order: string[] = [];
    const controller = new AbortController();
    const gone = t.acquire(controller.signal).then(
      () => order.push("aborted one got a slot"),
      (err: unknown) => order.push(`aborted: ${(err as Error).message}`),
    );
    const second = t.acquire().then((release) => {
      order.push("second");
      return release;
    });
    controller.abort(new Error("stop"));
    await gone;
    first();
    first(); // a body that ends and then closes releases once
    const release = await second;
    let thirdIn = false;
    const third = t.acquire().then((r) => {
      thirdIn = true;
      return r;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(thirdIn, false, "the double release did not open a second slot");
    release();
    (await third)();
    assert.deepEqual(order, ["aborted: stop", "second"]);
  });
});
