// What `--key` / `--verify-key` take, made by openssl: a PEM public key, or a
// certificate (whose key counts, as in cosign and containers/image); a private
// key is refused (exit 2, one line) before any request, as cosign and skopeo
// refuse it, rather than silently used.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { dray } from "../cli/run.js";
import { makeTempDir } from "../helpers/tmp.js";
import { opensslKey } from "./artifacts.js";

describe("key files", () => {
  const dir = makeTempDir("dray-key-files-");
  const k = opensslKey(dir, "k", "ec");
  // Port 9 on loopback: nothing listens, so any request would fail with another message.
  const src = "docker://127.0.0.1:9/app:1";

  for (const [cmd, flag] of [
    ["verify", "--key"],
    ["copy", "--verify-key"],
  ] as const) {
    it(`${cmd} ${flag} with a private key: exit 2, one line naming the file, no request`, async () => {
      const args = cmd === "verify" ? ["verify", src, flag, k.key] : ["copy", src, `oci:${join(dir, "out")}:1`, flag, k.key];
      const r = await dray(args);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, /a private key, not a public one/);
      assert.ok(r.stderr.includes(k.key), r.stderr);
    });
  }

  it("a certificate's public key is taken, as cosign takes it", async () => {
    const cert = join(dir, "cert.pem");
    execFileSync("openssl", ["req", "-x509", "-key", k.key, "-subj", "/CN=signer", "-days", "1", "-out", cert]);
    const r = await dray(["verify", src, "--key", cert]);
    assert.doesNotMatch(r.stderr, /not a PEM public key|private key/);
  });
});
