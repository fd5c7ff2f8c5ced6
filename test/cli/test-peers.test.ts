// scripts/test-peers.sh (npm test's first step) as a user without root: with every peer
// installed it says nothing, even on a Debian user's PATH, which has no /sbin (ldconfig's home).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";

const ROOT = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "../.." : "../../..", import.meta.url));

describe("scripts/test-peers.sh", () => {
  it("finds the installed peers on a user's PATH without /sbin", () => {
    // As nobody when the suite runs as root, so a false "missing" stops instead of running apt-get.
    const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const r = spawnSync("bash", [join(ROOT, "scripts", "test-peers.sh")], {
      ...asUser,
      cwd: "/",
      encoding: "utf8",
      env: { PATH: "/usr/local/bin:/usr/bin:/bin:/usr/games", HOME: "/nonexistent" },
    });
    assert.equal(r.stderr, "");
    assert.equal(r.status, 0);
  });
});
