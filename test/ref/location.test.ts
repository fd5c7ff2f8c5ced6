// The four location forms of the README, their invalid spellings, and the round
// trip parseLocation(formatLocation(x)) ≡ x for every valid vector.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isDrayError, type ErrorCode } from "../../src/errors.js";
import { Digest } from "../../src/oci/digest.js";
import { formatLocation, parseLocation, type Location } from "../../src/ref/location.js";
import { parseReference } from "../../src/ref/reference.js";

const SHA256 = Digest.of("layout");
const SHA512 = Digest.of("layout", "sha512");

const registry = (ref: string): Location => ({ transport: "docker", ref: parseReference(ref) });

type ValidVector = [input: string, expected: Location, canonical: string];

const VALID: ValidVector[] = [
  // docker://, with and without the prefix
  ["alpine", registry("alpine"), "docker://docker.io/library/alpine"],
  ["docker://alpine", registry("alpine"), "docker://docker.io/library/alpine"],
  ["docker://alpine:3.19", registry("alpine:3.19"), "docker://docker.io/library/alpine:3.19"],
  ["docker:dind", registry("docker:dind"), "docker://docker.io/library/docker:dind"],
  ["localhost:5000/team/app:v1", registry("localhost:5000/team/app:v1"), "docker://localhost:5000/team/app:v1"],
  ["docker://127.0.0.1:5000/app", registry("127.0.0.1:5000/app"), "docker://127.0.0.1:5000/app"],
  ["docker://[::1]:5000/app:tag", registry("[::1]:5000/app:tag"), "docker://[::1]:5000/app:tag"],
  [`docker://ghcr.io/o/r@${SHA256}`, registry(`ghcr.io/o/r@${SHA256}`), `docker://ghcr.io/o/r@${SHA256}`],
  [`quay.io/o/r:t@${SHA512}`, registry(`quay.io/o/r:t@${SHA512}`), `docker://quay.io/o/r:t@${SHA512}`],
  ["docker://index.docker.io/library/busybox", registry("busybox"), "docker://docker.io/library/busybox"],
  // oci:PATH[:REF]
  ["oci:/tmp/layout", { transport: "oci", path: "/tmp/layout" }, "oci:/tmp/layout"],
  ["oci:layout", { transport: "oci", path: "layout" }, "oci:layout"],
  ["oci:/tmp/layout:v1", { transport: "oci", path: "/tmp/layout", ref: { kind: "tag", tag: "v1" } }, "oci:/tmp/layout:v1"],
  ["oci:./rel/dir:latest", { transport: "oci", path: "./rel/dir", ref: { kind: "tag", tag: "latest" } }, "oci:./rel/dir:latest"],
  [
    `oci:/tmp/layout:${SHA256}`,
    { transport: "oci", path: "/tmp/layout", ref: { kind: "digest", digest: SHA256 } },
    `oci:/tmp/layout:${SHA256}`,
  ],
  [`oci:l:${SHA512}`, { transport: "oci", path: "l", ref: { kind: "digest", digest: SHA512 } }, `oci:l:${SHA512}`],
  [
    "oci:/tmp/my dir@2:1.0_rc-1",
    { transport: "oci", path: "/tmp/my dir@2", ref: { kind: "tag", tag: "1.0_rc-1" } },
    "oci:/tmp/my dir@2:1.0_rc-1",
  ],
  [`oci:/x:${"T".repeat(128)}`, { transport: "oci", path: "/x", ref: { kind: "tag", tag: "T".repeat(128) } }, `oci:/x:${"T".repeat(128)}`],
  // oci-archive:FILE[:REF], `-` for a stream
  ["oci-archive:/tmp/img.tar", { transport: "oci-archive", path: "/tmp/img.tar" }, "oci-archive:/tmp/img.tar"],
  [
    "oci-archive:img.tar:v1.2",
    { transport: "oci-archive", path: "img.tar", ref: { kind: "tag", tag: "v1.2" } },
    "oci-archive:img.tar:v1.2",
  ],
  [
    `oci-archive:img.tar:${SHA256}`,
    { transport: "oci-archive", path: "img.tar", ref: { kind: "digest", digest: SHA256 } },
    `oci-archive:img.tar:${SHA256}`,
  ],
  ["oci-archive:-", { transport: "oci-archive", path: "-" }, "oci-archive:-"],
  // REPO:TAG, the names of a mirror archive (dray sync SRC oci-archive:FILE)
  [
    "oci-archive:m.tar:team/app:1.2",
    { transport: "oci-archive", path: "m.tar", ref: { kind: "tag", tag: "team/app:1.2" } },
    "oci-archive:m.tar:team/app:1.2",
  ],
  ["oci:/m:app:20240101", { transport: "oci", path: "/m", ref: { kind: "tag", tag: "app:20240101" } }, "oci:/m:app:20240101"],
  ["oci-archive:-:edge", { transport: "oci-archive", path: "-", ref: { kind: "tag", tag: "edge" } }, "oci-archive:-:edge"],
  // docker-archive:FILE[:NAME:TAG]
  ["docker-archive:/tmp/img.tar", { transport: "docker-archive", path: "/tmp/img.tar" }, "docker-archive:/tmp/img.tar"],
  [
    "docker-archive:/tmp/img.tar:busybox:latest",
    { transport: "docker-archive", path: "/tmp/img.tar", ref: parseReference("busybox:latest") },
    "docker-archive:/tmp/img.tar:docker.io/library/busybox:latest",
  ],
  [
    "docker-archive:img.tar:localhost:5000/app:v1",
    { transport: "docker-archive", path: "img.tar", ref: parseReference("localhost:5000/app:v1") },
    "docker-archive:img.tar:localhost:5000/app:v1",
  ],
  [
    "docker-archive:img.tar:name",
    { transport: "docker-archive", path: "img.tar", ref: parseReference("name") },
    "docker-archive:img.tar:docker.io/library/name",
  ],
  ["docker-archive:-", { transport: "docker-archive", path: "-" }, "docker-archive:-"],
  [
    "docker-archive:-:me/app:1",
    { transport: "docker-archive", path: "-", ref: parseReference("me/app:1") },
    "docker-archive:-:docker.io/me/app:1",
  ],
  // skopeo's source index: the N-th image of manifest.json (issue 27 item 22; it was read as credentials)
  ["docker-archive:/x.tar:@0", { transport: "docker-archive", path: "/x.tar", index: 0 }, "docker-archive:/x.tar:@0"],
  ["docker-archive:multi.tar:@12", { transport: "docker-archive", path: "multi.tar", index: 12 }, "docker-archive:multi.tar:@12"],
];

type InvalidVector = [input: string, code: ErrorCode, why: string];

const INVALID: InvalidVector[] = [
  // transports dray does not speak
  ["dir:/tmp/x", "E_LOCATION_INVALID", "skopeo dir transport"],
  ["containers-storage:alpine", "E_LOCATION_INVALID", "containers-storage"],
  ["docker-daemon:alpine:latest", "E_LOCATION_INVALID", "docker-daemon"],
  ["oci-layout:/x", "E_LOCATION_INVALID", "not the oci prefix"],
  ["http://example.com/x", "E_LOCATION_INVALID", "a URL"],
  ["https://registry.example.com/v2/x", "E_LOCATION_INVALID", "a URL"],
  ["ftp://a/b", "E_LOCATION_INVALID", "a URL"],
  ["s3://bucket/img", "E_LOCATION_INVALID", "a URL"],
  // missing path or REF
  ["oci:", "E_LOCATION_INVALID", "empty path"],
  ["oci::tag", "E_LOCATION_INVALID", "empty path"],
  ["oci-archive:", "E_LOCATION_INVALID", "empty path"],
  ["docker-archive:", "E_LOCATION_INVALID", "empty path"],
  ["docker-archive::a:b", "E_LOCATION_INVALID", "empty path"],
  ["oci:/x:", "E_LOCATION_INVALID", "empty REF"],
  ["docker-archive:/x.tar:", "E_LOCATION_INVALID", "empty REF"],
  ["oci:-", "E_LOCATION_INVALID", "a layout is a directory"],
  ["oci:/tmp/\u0000x", "E_LOCATION_INVALID", "NUL in path"],
  // bad tags
  ["oci:/x:-bad", "E_LOCATION_INVALID", "tag starting with a dash"],
  ["oci:/x:.bad", "E_LOCATION_INVALID", "tag starting with a dot"],
  ["oci:/x:a/b", "E_LOCATION_INVALID", "slash in tag"],
  ["oci:/x:tag with space", "E_LOCATION_INVALID", "space in tag"],
  [`oci:/x:${"a".repeat(129)}`, "E_LOCATION_INVALID", "tag over 128"],
  ["oci-archive:x.tar:t\u00e9", "E_LOCATION_INVALID", "non-ASCII tag"],
  // bad digests
  ["oci:/x:sha256:abc", "E_LOCATION_INVALID", "short digest"],
  [`oci:/x:sha256:${"A".repeat(64)}`, "E_LOCATION_INVALID", "uppercase hex"],
  ["oci:/x:sha256:../../x", "E_LOCATION_INVALID", "traversal in a digest"],
  [`oci:/x:md5:${"a".repeat(32)}`, "E_LOCATION_INVALID", "md5"],
  [`oci:/x:${SHA256}:extra`, "E_LOCATION_INVALID", "digest with a suffix"],
  ["oci:/x:Team/app:1", "E_LOCATION_INVALID", "uppercase repository in REPO:TAG"],
  ["oci:/x:team/app:-1", "E_LOCATION_INVALID", "bad tag in REPO:TAG"],
  // docker-archive takes NAME:TAG, never a digest
  [`docker-archive:/x.tar:alpine@${SHA256}`, "E_LOCATION_INVALID", "digest in docker-archive"],
  [`docker-archive:/x.tar:alpine:1@${SHA256}`, "E_LOCATION_INVALID", "tag and digest in docker-archive"],
  ["docker-archive:/x.tar:Alpine:1", "E_REF_INVALID", "uppercase repository"],
  ["docker-archive:/x.tar:alpine:-1", "E_REF_INVALID", "bad tag"],
  ["docker-archive:/x.tar:@-1", "E_LOCATION_INVALID", "a negative source index"],
  ["docker-archive:/x.tar:@1x", "E_LOCATION_INVALID", "a source index with more than digits"],
  ["docker-archive:/x.tar:@", "E_LOCATION_INVALID", "a source index without digits"],
  // registry references
  ["docker://", "E_REF_INVALID", "empty reference"],
  ["docker://Alpine", "E_REF_INVALID", "uppercase repository"],
  ["docker://docker://alpine", "E_REF_INVALID", "prefix twice"],
  ["docker://alpine:", "E_REF_INVALID", "empty tag"],
  ["alpine@sha256:1234", "E_REF_INVALID", "short digest"],
  ["", "E_REF_INVALID", "nothing"],
];

describe("parseLocation: valid vectors", () => {
  for (const [input, expected, canonical] of VALID) {
    it(`accepts ${JSON.stringify(input.length > 70 ? `${input.slice(0, 67)}...` : input)}`, () => {
      const loc = parseLocation(input);
      assert.deepEqual(loc, expected);
      assert.equal(formatLocation(loc), canonical);
      assert.deepEqual(parseLocation(formatLocation(loc)), loc);
    });
  }
});

describe("parseLocation: invalid vectors", () => {
  for (const [input, code, why] of INVALID) {
    it(`rejects ${JSON.stringify(input.length > 60 ? `${input.slice(0, 57)}...` : input)} (${why})`, () => {
      assert.throws(
        () => parseLocation(input),
        (e: unknown) => isDrayError(e, code) && e.message.startsWith("invalid location ") && !e.message.includes("\n"),
      );
    });
  }
});

describe("location errors", () => {
  it("an image index that is no number says so, not that it holds credentials (nor masks it as ***@)", () => {
    assert.throws(
      () => parseLocation("docker-archive:/x.tar:@x"),
      (e: unknown) =>
        isDrayError(e, "E_LOCATION_INVALID") &&
        e.message ===
          'invalid location "docker-archive:/x.tar:@x": @x is not an image index: @N takes a number from 0 (@0 is the first image)',
    );
  });

  it("name the whole location and say why, on one line", () => {
    assert.throws(
      () => parseLocation("docker-archive:/x.tar:Alpine:1"),
      (e: unknown) =>
        isDrayError(e) && e.message === 'invalid location "docker-archive:/x.tar:Alpine:1": repository name must be lowercase',
    );
    assert.throws(
      () => parseLocation("oci:/x:bad\ntag"),
      (e: unknown) => isDrayError(e, "E_LOCATION_INVALID") && e.message.includes("\\n") && !e.message.includes("\n"),
    );
  });

  it("cut hostile input short", () => {
    const long = `oci:/x:${"a".repeat(100_000)}`;
    assert.throws(
      () => parseLocation(long),
      (e: unknown) => isDrayError(e, "E_LOCATION_INVALID") && e.message.length < 400,
    );
  });
});
