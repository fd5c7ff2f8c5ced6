import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isDrayError } from "../../src/errors.js";
import { formatPlatform, hostPlatform, normalizePlatform, parsePlatform, platformMatches, type Platform } from "../../src/oci/platform.js";

function p(text: string): Platform {
  const [os, architecture, variant] = text.split("/") as [string, string, string | undefined];
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

describe("parsePlatform", () => {
  const valid: Array<[string, Platform]> = [
    ["linux/amd64", { os: "linux", architecture: "amd64" }],
    ["linux/arm64/v8", { os: "linux", architecture: "arm64", variant: "v8" }],
    ["linux/arm/v7", { os: "linux", architecture: "arm", variant: "v7" }],
    ["windows/amd64", { os: "windows", architecture: "amd64" }],
    ["linux/ppc64le", { os: "linux", architecture: "ppc64le" }],
    ["linux/x86_64", { os: "linux", architecture: "x86_64" }],
  ];
  for (const [text, expected] of valid) {
    it(`reads ${text}`, () => {
      assert.deepEqual(parsePlatform(text), expected);
      assert.equal(formatPlatform(parsePlatform(text)), text);
    });
  }
  for (const text of [
    "",
    "linux",
    "linux/",
    "/amd64",
    "linux/amd64/",
    "linux/arm/v7/extra",
    "Linux/amd64",
    "linux/AMD64",
    "linux amd64",
    "linux/amd64\n",
  ]) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.throws(
        () => parsePlatform(text),
        (e: unknown) => isDrayError(e, "E_PLATFORM_INVALID"),
      );
    });
  }
});

describe("platformMatches", () => {
  // [wanted, candidate, matches]
  const table: Array<[string, string, boolean]> = [
    ["linux/arm64", "linux/arm64/v8", true],
    ["linux/arm64/v8", "linux/arm64", true],
    ["linux/arm64", "linux/arm64", true],
    ["linux/arm64", "linux/aarch64", true],
    ["linux/arm64/v8", "linux/aarch64/8", true],
    ["linux/arm64", "linux/arm64/v9", false],
    ["linux/arm", "linux/arm/v7", true],
    ["linux/arm/v7", "linux/arm", true],
    ["linux/arm/7", "linux/arm/v7", true],
    ["linux/arm", "linux/arm/v6", false],
    ["linux/arm/v6", "linux/arm/v7", false],
    ["linux/arm/v6", "linux/armel", true],
    ["linux/arm/v7", "linux/armhf", true],
    ["linux/arm/v5", "linux/arm/5", true],
    ["linux/amd64", "linux/amd64", true],
    ["linux/amd64", "linux/x86_64", true],
    ["linux/amd64", "linux/amd64/v1", true],
    ["linux/amd64", "linux/amd64/v3", false],
    ["linux/amd64/v3", "linux/amd64", false],
    ["linux/amd64/v3", "linux/x86_64/v3", true],
    ["linux/386", "linux/i386", true],
    ["linux/amd64", "windows/amd64", false],
    ["linux/amd64", "linux/arm64", false],
    ["linux/arm64", "linux/arm", false],
    ["linux/amd64", "Linux/AMD64", true],
  ];
  for (const [wanted, candidate, expected] of table) {
    it(`${wanted} ${expected ? "matches" : "does not match"} ${candidate}`, () => {
      assert.equal(platformMatches(p(wanted), p(candidate)), expected);
    });
  }

  it("never matches a missing platform", () => {
    assert.equal(platformMatches(p("linux/amd64"), undefined), false);
  });

  it("treats an empty variant as no variant", () => {
    assert.equal(platformMatches(p("linux/arm"), { os: "linux", architecture: "arm", variant: "" }), true);
    assert.equal(platformMatches(p("linux/arm64"), { os: "linux", architecture: "arm64", variant: "" }), true);
  });
});

describe("normalizePlatform", () => {
  it("makes default variants explicit and drops the amd64 baseline", () => {
    assert.deepEqual(normalizePlatform(p("linux/arm64")), { os: "linux", architecture: "arm64", variant: "v8" });
    assert.deepEqual(normalizePlatform(p("linux/arm")), { os: "linux", architecture: "arm", variant: "v7" });
    assert.deepEqual(normalizePlatform(p("linux/x86_64/v1")), { os: "linux", architecture: "amd64" });
  });
  it("is idempotent", () => {
    for (const text of ["linux/arm64", "linux/aarch64/8", "linux/armhf", "linux/x86-64/v2", "linux/i386", "linux/riscv64"]) {
      const once = normalizePlatform(p(text));
      assert.deepEqual(normalizePlatform(once), once, text);
    }
  });
  it("describes this machine in OCI terms", () => {
    const host = hostPlatform();
    assert.ok(["linux", "windows"].includes(host.os));
    assert.deepEqual(normalizePlatform(host), host);
    const nodeToOci: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386" };
    const expected = nodeToOci[process.arch];
    if (expected !== undefined) assert.equal(host.architecture, expected);
  });
});
