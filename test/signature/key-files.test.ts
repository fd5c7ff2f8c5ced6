// What `--key` / `--verify-key` take, made by openssl: a PEM public key, or a
// certificate (whose key counts, as in cosign and containers/image); a private
// key is refused (exit 2, one line) before any request, as cosign and skopeo
// refuse it, rather than silently used.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { dray } from "../cli/run.js";
import { fifoWith, makeTempDir } from "../helpers/tmp.js";
import { buildImage, writeOciLayout } from "../helpers/fixtures.js";
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

  it("keys from a FIFO (as `--key <(openssl pkey …)` gives a pipe, /dev/fd/N): signed and verified; a folder refused in words", async () => {
    const fifoOf = (file: string, name: string): string => fifoWith(file, dir, name);
    const layout = join(dir, "piped");
    await writeOciLayout(layout, await buildImage({ seed: "piped-keys" }), "v1");
    // Was `signing key "…/key.fifo" is not a file` (exit 2): a pipe is read once, to its end.
    const signed = await dray(["copy", "-q", "--sign-key", fifoOf(k.key, "key.fifo"), `oci:${layout}:v1`, `oci:${layout}:signed`]);
    assert.equal(signed.code, 0, signed.stderr);
    const verified = await dray(["verify", "--key", fifoOf(k.pub, "pub.fifo"), `oci:${layout}:signed`]);
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, /: verified\n/);
    // openssl, the peer, made the key; the same key read from its file agrees.
    assert.equal((await dray(["verify", "--key", k.pub, `oci:${layout}:signed`])).code, 0);
    for (const args of [
      ["verify", "--key", dir, `oci:${layout}:signed`],
      ["copy", "--sign-key", dir, `oci:${layout}:v1`, `oci:${layout}:v2`],
    ]) {
      const r = await dray(args);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr, `dray: ${args[1] === "--key" ? "key file" : "signing key"} "${dir}" is a directory, not a file\n`);
    }
  });

  it("a certificate's public key is taken, as cosign takes it", async () => {
    const cert = join(dir, "cert.pem");
    execFileSync("openssl", ["req", "-x509", "-key", k.key, "-subj", "/CN=signer", "-days", "1", "-out", cert]);
    const r = await dray(["verify", src, "--key", cert]);
    assert.doesNotMatch(r.stderr, /not a PEM public key|private key/);
  });
});
