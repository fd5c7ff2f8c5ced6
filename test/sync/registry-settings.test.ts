// A library caller of sync() gets a sync file's per-registry settings applied
// the way `dray sync --file` does (issue 18): the credentials of
// `registries: {HOST: …}` reach that host, and only that host.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { parseSyncConfig } from "../../src/sync/config.js";
import { sync } from "../../src/sync/index.js";
import { buildImage, pushImage } from "../helpers/fixtures.js";
import { requireTool, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { isolateCredentials } from "../transport/registry/support.js";

describe("sync(): per-registry settings of a sync file", () => {
  let plain: RegistryHandle;
  let locked: RegistryHandle;

  before(async () => {
    requireTool("docker-registry");
    isolateCredentials();
    [plain, locked] = await Promise.all([startRegistry(), startRegistry({ mode: "htpasswd" })]);
    await pushImage(plain, "lib/app", "1.0", await buildImage({ seed: "settings-app" }));
  });

  function config(withCreds: boolean): ReturnType<typeof parseSyncConfig> {
    const creds = withCreds
      ? `\nregistries:\n  ${locked.host}:\n    username: ${locked.username}\n    password-env: LOCKED_PASSWORD\n`
      : "";
    const yaml = `version: 1\nsync:\n  - source: ${plain.host}/lib/app\n    destination: ${locked.host}/mirror/app\n${creds}`;
    return parseSyncConfig(yaml, "sync.yaml", { env: { LOCKED_PASSWORD: locked.password! } });
  }

  it("without the registries block the destination refuses the push (E_AUTH_*)", async () => {
    const c = config(false);
    const summary = await sync(c.rules, { registries: c.registries });
    assert.equal(summary.images.copied, 0);
    assert.ok(summary.failures.length > 0);
    assert.match(summary.failures[0]!.code, /^E_AUTH_/);
  });

  it("with them, the credentials reach the destination host and the image arrives", async () => {
    const c = config(true);
    assert.ok(c.registries.has(locked.host));
    const summary = await sync(c.rules, { registries: c.registries });
    assert.deepEqual(summary.failures, []);
    assert.equal(summary.images.copied, 1);
    // A second run finds it there: the HEAD at the locked registry carried the same credentials.
    const again = await sync(c.rules, { registries: c.registries });
    assert.deepEqual(again.images, { copied: 0, upToDate: 1, failed: 0, planned: 0, refused: 0 });
  });
});
