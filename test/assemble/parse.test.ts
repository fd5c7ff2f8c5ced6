// The small grammars of the assembling commands: annotation targets as buildx
// spells them, creation times, SOURCE_DATE_EPOCH.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAnnotation, parseCreated, sourceDateEpoch } from "../../src/index.js";

describe("assemble: annotation targets and times", () => {
  it("--annotation [TARGET:]KEY=VALUE", () => {
    assert.deepEqual(parseAnnotation("org.opencontainers.image.source=https://x/y"), {
      key: "org.opencontainers.image.source",
      value: "https://x/y",
    });
    assert.deepEqual(parseAnnotation("index:a=b=c"), { target: { index: true, manifest: false }, key: "a", value: "b=c" });
    assert.deepEqual(parseAnnotation("manifest:a="), { target: { index: false, manifest: true }, key: "a", value: "" });
    assert.deepEqual(parseAnnotation("index,manifest:a=b"), { target: { index: true, manifest: true }, key: "a", value: "b" });
    assert.deepEqual(parseAnnotation("manifest[linux/arm64]:a=b"), {
      target: { index: false, manifest: true, platform: { os: "linux", architecture: "arm64" } },
      key: "a",
      value: "b",
    });
    // A key with a colon that is no target stays a key.
    assert.deepEqual(parseAnnotation("com.example:x=1"), { key: "com.example:x", value: "1" });
    assert.throws(() => parseAnnotation("novalue"), { code: "E_USAGE" });
    assert.throws(() => parseAnnotation("manifest[linux]:a=b"), { code: "E_PLATFORM_INVALID" });
  });

  it("--created: RFC 3339 in UTC, @SECONDS; SOURCE_DATE_EPOCH", () => {
    assert.equal(parseCreated("2024-05-01T12:00:00Z"), "2024-05-01T12:00:00Z");
    assert.equal(parseCreated("2024-05-01T14:00:00+02:00"), "2024-05-01T12:00:00Z");
    assert.equal(parseCreated("2024-05-01T12:00:00.250Z"), "2024-05-01T12:00:00.250Z");
    assert.equal(parseCreated("@0"), "1970-01-01T00:00:00Z");
    assert.equal(parseCreated("@1700000000"), "2023-11-14T22:13:20Z");
    for (const bad of ["1700000000", "2024-05-01", "yesterday", "2024-13-45T00:00:00Z"])
      assert.throws(() => parseCreated(bad), { code: "E_USAGE" }, bad);
    assert.equal(sourceDateEpoch({}), undefined);
    assert.equal(sourceDateEpoch({ SOURCE_DATE_EPOCH: "86400" }), "1970-01-02T00:00:00Z");
    assert.throws(() => sourceDateEpoch({ SOURCE_DATE_EPOCH: "soon" }), { code: "E_USAGE" });
  });
});
