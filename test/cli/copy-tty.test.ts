// What a person sees: `dray copy` on a pseudo-terminal (util-linux `script`),
// rendered through a minimal terminal model so the assertions read the final
// screen, not the escape-code stream. Also resolveMode's choices.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { resolveMode } from "../../src/cli/progress.js";
import { buildIndex, writeOciLayout } from "../helpers/fixtures.js";
import { finalScreen, onPty } from "../helpers/pty.js";
import { makeTempDir } from "../helpers/tmp.js";

describe("dray copy on a terminal", () => {
  let dir: string;
  let src: string;

  before(async () => {
    assert.ok(existsSync("/usr/bin/script"), "util-linux script is needed for the pseudo-terminal test");
    dir = makeTempDir("dray-cli-tty-");
    src = join(dir, "src");
    await writeOciLayout(src, await buildIndex({ layerCount: 2, layerSize: 2_000_000, seed: "tty" }), "v1");
  });

  it("shows a spinner, then a bar per blob and a total, and leaves the total and the summary on screen", async () => {
    const { code, raw } = await onPty(["copy", "--jobs", "2", `oci:${src}:v1`, `oci:${dir}/dst:v1`]);
    assert.equal(code, 0, raw);
    assert.ok(raw.includes("\u001b[?25l") && raw.includes("\u001b[?25h"), "the cursor is hidden while drawing and shown again");
    assert.match(raw, /sha256:[0-9a-f]{12} [█░]+ +\d+% \| /, "a bar per blob in flight");
    const screen = finalScreen(raw);
    assert.match(screen[0]!, /^• 4 manifests, 9 blobs, 12\.0 MB$/);
    assert.match(screen[1]!, /^total +█+ 100% \| 12\.0 MB \/ 12\.0 MB \| [\d.]+ [kMG]?B\/s$/);
    assert.match(screen[2]!, /^Copied oci:.* 4 manifests, blobs 9 copied \(12\.0 MB\), 0 skipped in [\d.]+ s$/);
    assert.match(screen[3]!, /^sha256:[0-9a-f]{64}$/);
    assert.equal(screen.length, 4, screen.join("\n"));
  });

  it("--no-color and NO_COLOR keep colour codes out; -q keeps the terminal for the digest alone", async () => {
    const plain = await onPty(["--no-color", "copy", `oci:${src}:v1`, `oci:${dir}/nocolor:v1`]);
    assert.equal(plain.code, 0, plain.raw);
    // eslint-disable-next-line no-control-regex -- terminal escapes and control characters are what this checks
    assert.ok(!/\u001b\[3\dm/.test(plain.raw), "no SGR colour codes");
    const quiet = await onPty(["copy", "-q", `oci:${src}:v1`, `oci:${dir}/quiet:v1`]);
    assert.equal(quiet.code, 0);
    assert.deepEqual(
      finalScreen(quiet.raw).map((l) => l.trim()),
      [quiet.raw.trim()],
    );
    assert.match(quiet.raw.trim(), /^sha256:[0-9a-f]{64}$/);
  });

  it("an archive to - on a terminal is refused, as docker save does; reading one from - on a terminal does not wait (issue 19)", async () => {
    const out = await onPty(["copy", "--platform", "linux/amd64", `oci:${src}:v1`, "docker-archive:-"]);
    assert.equal(out.code, 2, out.raw);
    assert.match(out.raw, /dray: refusing to write an archive to a terminal/);
    // Refused before the first blob moved (it used to come after every blob was downloaded, issue 28 item 18).
    assert.deepEqual(finalScreen(out.raw), [
      "dray: refusing to write an archive to a terminal: redirect standard output (> FILE, | …) or give a file name instead of -",
    ]);
    assert.ok(!out.raw.includes("ustar"), "no tar bytes reached the terminal");
    const input = await onPty(["copy", "oci-archive:-", `oci:${dir}/from-tty:v1`]);
    assert.equal(input.code, 2, input.raw);
    assert.match(input.raw, /dray: standard input is a terminal/);
  });
});

describe("long work on a terminal shows that it moves (issue 28 item 20)", () => {
  let dir: string;
  before(async () => {
    dir = makeTempDir("dray-cli-tty-status-");
    await writeOciLayout(join(dir, "src"), await buildIndex({ layerCount: 2, layerSize: 500_000, seed: "tty-status" }), "v1");
  });

  for (const cols of [80, 160]) {
    it(`sync: a status line under the per-image lines, cut to ${cols} columns and cleared before the summary`, async () => {
      const { code, raw } = await onPty(["sync", `oci:${dir}/src`, `oci:${dir}/mirror-${cols}`], { NO_COLOR: "1" }, cols);
      assert.equal(code, 0, raw);
      assert.match(raw, /syncing: images \d+\/1 done, \d+ in flight; [\d.]+ [kM]?B of [\d.]+ [kM]?B/);
      const screen = finalScreen(raw);
      assert.ok(!screen.some((l) => l.startsWith("syncing:")), screen.join("\n"));
      assert.match(screen.at(-1)!, /^Synced 1 repository in /);
      for (const drawn of raw.split("\r")) assert.ok(!drawn.startsWith("\u001b[Ksyncing") || drawn.length <= cols + 3, drawn);
    });
  }

  it("copy: a blob's bar ends with its size, no dangling '| '", async () => {
    const { code, raw } = await onPty(["copy", `oci:${dir}/src:v1`, `oci:${dir}/bars:v1`]);
    assert.equal(code, 0, raw);
    assert.match(raw, /sha256:[0-9a-f]{12} [█░]+ +\d+% \| [\d.]+ [kM]?B \/ [\d.]+ [kM]?B/);
    // eslint-disable-next-line no-control-regex -- terminal escapes are what this checks
    assert.ok(!/sha256:[0-9a-f]{12} [█░]+ +\d+% \| [^|\n]*\| *(\r|\n|\u001b)/.test(raw), "no second '|' on a blob's bar");
  });
});

describe("resolveMode", () => {
  it("auto is bars on a sized terminal, plain lines elsewhere, nothing when quiet", () => {
    assert.equal(resolveMode("auto", false, { isTTY: true, columns: 80 }), "bar");
    assert.equal(resolveMode("auto", false, { isTTY: false }), "plain");
    assert.equal(resolveMode("auto", false, {}), "plain");
    // A pseudo-terminal nobody sized reports 0 columns; ora would loop dividing by it.
    assert.equal(resolveMode("auto", false, { isTTY: true, columns: 0 }), "plain");
    assert.equal(resolveMode("bar", false, { isTTY: true, columns: 0 }), "plain");
    assert.equal(resolveMode("json", true, { isTTY: true, columns: 80 }), "none");
    assert.equal(resolveMode("json", false, { isTTY: false }), "json");
  });
});
