// A referrer line names what the registry said: its artifact type and tag are
// quoted when they hold a control character or a newline, so a hostile
// registry can neither steer the terminal nor forge a line of sync's plan.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { referrerItemName } from "../../src/cli/commands/copy-referrers-run.js";

const DIGEST = `sha256:${"a".repeat(64)}`;

describe("referrer line names", () => {
  it("a plain artifact type and tag as they are", () => {
    assert.equal(
      referrerItemName({ kind: "manifest", digest: DIGEST, artifactType: "application/vnd.dev.sigstore.bundle.v0.3+json" }),
      `${DIGEST} (application/vnd.dev.sigstore.bundle.v0.3+json)`,
    );
    assert.equal(referrerItemName({ kind: "index-tag", tag: "sha256-abc" }), "sha256-abc (referrers index)");
  });

  it("an artifact type with an escape sequence or a newline, quoted on one line", () => {
    const name = referrerItemName({ kind: "manifest", digest: DIGEST, artifactType: "x\u001b[2J\nreferrer forged" });
    assert.equal(name, `${DIGEST} ("x\\u001b[2J\\nreferrer forged")`);
    assert.ok(![...name].some((c) => c.charCodeAt(0) < 0x20), "no control character left");
  });
});
