import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { Command } from "commander";
import type { CliContext } from "../../src/cli/context.js";
import {
  addTransportOptions,
  collect,
  parseCount,
  parseCredentials,
  transportOptions,
  type TransportFlags,
} from "../../src/cli/options.js";
import { DrayError } from "../../src/errors.js";
import { makeCertificates } from "../helpers/certs.js";
import { makeTempDir } from "../helpers/tmp.js";
import { dray } from "./run.js";

function ctx(debug = false): CliContext & { lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  return { stdout: sink, stderr: sink, signal: new AbortController().signal, color: false, debug, message: (l) => lines.push(l), lines };
}

function parse(args: string[], twoSided = true): TransportFlags & { platform?: string[] } {
  const cmd = new Command("x").exitOverride().option("--platform <p>", "", collect);
  addTransportOptions(cmd, { twoSided });
  cmd.parse(args, { from: "user" });
  return cmd.opts();
}

describe("cli options", () => {
  it("USER:PASS splits at the first colon; a password may contain colons", () => {
    assert.deepEqual(parseCredentials("alice:pa:ss"), { username: "alice", password: "pa:ss" });
    assert.deepEqual(parseCredentials("bob:"), { username: "bob", password: "" });
    for (const bad of ["nocolon", ":secret", ""]) {
      assert.throws(
        () => parseCredentials(bad, "--src-creds"),
        (e: unknown) => e instanceof DrayError && e.code === "E_USAGE" && !e.message.includes("secret"),
      );
    }
  });

  it("per-side credentials win over --creds, which covers both sides", () => {
    const flags = parse(["--creds", "both:1", "--dest-creds", "dst:2"]);
    assert.deepEqual(transportOptions(flags, ctx(), "src").creds, { username: "both", password: "1" });
    assert.deepEqual(transportOptions(flags, ctx(), "dest").creds, { username: "dst", password: "2" });
    assert.equal(transportOptions(parse([]), ctx(), "src").creds, undefined);
  });

  it("maps --authfile, --insecure, --ca-file, --retries; --debug lines go to stderr", () => {
    const c = ctx(true);
    const authFile = join(makeTempDir(), "a.json");
    writeFileSync(authFile, "{}");
    // --ca-file is read before any request (issue 28 item 10): it must hold a PEM certificate.
    const { caFile } = makeCertificates(makeTempDir());
    const o = transportOptions(parse(["--authfile", authFile, "--insecure", "--ca-file", caFile, "--retries", "0"]), c);
    assert.equal(o.authFile, authFile);
    assert.equal(o.insecure, true);
    assert.equal(o.caFile, caFile);
    assert.equal(o.retries, 0);
    o.debug?.("GET /v2/");
    o.notice?.("hello");
    assert.deepEqual(c.lines, ["GET /v2/", "dray: hello"]);
    assert.equal(transportOptions(parse([]), ctx(false)).debug, undefined);
  });

  it("--platform repeats; counts are checked", () => {
    assert.deepEqual(parse(["--platform", "linux/amd64", "--platform", "linux/arm64"]).platform, ["linux/amd64", "linux/arm64"]);
    assert.equal(parseCount("--jobs")("12"), 12);
    for (const bad of ["0", "-1", "1.5", "x", ""]) assert.throws(() => parseCount("--jobs")(bad), /--jobs expects an integer/);
    assert.throws(() => parse(["--retries", "-2"]), /--retries expects an integer ≥ 0/);
  });

  it("one-sided commands have no --src-creds", () => {
    assert.throws(() => parse(["--src-creds", "a:b"], false), /unknown option/);
  });

  it("index remove reads no source: no --src-… flags (index create has them)", async () => {
    const remove = await dray(["index", "remove", "--src-creds", "a:b", "--platform", "linux/amd64", "oci:x:v1"]);
    assert.equal(remove.code, 2);
    assert.match(remove.stderr, /unknown option '--src-creds'/);
    assert.match((await dray(["index", "create", "--help"])).stdout, /--src-creds/);
  });
});
