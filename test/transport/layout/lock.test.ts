// The index.json lock: exclusive, waits for a live holder, breaks a dead one's.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isDrayError } from "../../../src/errors.js";
import { LockFile } from "../../../src/transport/layout/index.js";
import { makeTempDir } from "../../helpers/tmp.js";

describe("layout lock file", () => {
  it("serialises holders: the second waits until the first releases", async () => {
    const path = join(makeTempDir(), ".dray-lock");
    const order: string[] = [];
    const first = new LockFile(path);
    await first.acquire();
    const second = new LockFile(path).with(async () => {
      order.push("second");
    });
    await new Promise((r) => setTimeout(r, 100));
    order.push("first-done");
    await first.release();
    await second;
    assert.deepEqual(order, ["first-done", "second"]);
  });

  it("breaks a lock left by a dead process on this host", async () => {
    const path = join(makeTempDir(), ".dray-lock");
    // pid above Linux's pid_max: never a live process.
    await writeFile(path, JSON.stringify({ pid: 4194305, host: hostname(), nonce: "dead", since: "then" }));
    const lock = new LockFile(path);
    await lock.acquire({ timeoutMs: 2000 });
    assert.equal((JSON.parse(await readFile(path, "utf8")) as { pid?: number }).pid, process.pid);
    await lock.release();
  });

  it("times out on a live holder with a message naming it", async () => {
    const path = join(makeTempDir(), ".dray-lock");
    const sleeper = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      await writeFile(path, JSON.stringify({ pid: sleeper.pid, host: hostname(), nonce: "live", since: "now" }));
      await assert.rejects(
        new LockFile(path).acquire({ timeoutMs: 300 }),
        (e: unknown) => isDrayError(e, "E_IO") && e.message.includes(`process ${sleeper.pid}`),
      );
    } finally {
      sleeper.kill();
    }
  });
});
