// Table-driven vectors for the docker reference grammar and its normalisation.
// Most rows restate, in our own table, the valid and invalid examples of the
// distribution project's reference tests (reference_test.go, normalize_test.go,
// regexp_test.go of distribution/reference), read through ParseNormalizedNamed
// semantics: a first component is a registry host only when it has a '.', a ':',
// is `localhost` or has an uppercase letter; everything else lives on docker.io.
// Rows marked "dray:" are stricter than the grammar on purpose (digest
// algorithms dray can verify, hosts a URL can carry).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isDrayError } from "../../src/errors.js";
import {
  familiarReference,
  formatReference,
  hostOf,
  isLoopbackDomain,
  parseReference,
  repositoryName,
  withDefaultTag,
  type ImageReference,
} from "../../src/ref/reference.js";

const F64 = "f".repeat(64);
const SHA256_F = `sha256:${F64}`;
const SHA512_F = `sha512:${"f".repeat(128)}`;
const HEX64 = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";
const REDIS_DIGEST = "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c";
const BUSYBOX_DIGEST = "sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa";

/** What a valid vector must parse to; the digest as text. */
interface Expected {
  domain: string;
  path: string;
  tag?: string;
  digest?: string;
}

type ValidVector = [input: string, expected: Expected];

function plain(ref: ImageReference): Expected {
  const out: Expected = { domain: ref.domain, path: ref.path };
  if (ref.tag !== undefined) out.tag = ref.tag;
  if (ref.digest !== undefined) out.digest = ref.digest.toString();
  return out;
}

const hub = (path: string, extra: Partial<Expected> = {}): Expected => ({ domain: "docker.io", path, ...extra });

const VALID: ValidVector[] = [
  // reference_test.go TestReferenceParse, normalised
  ["test_com", hub("library/test_com")],
  ["test.com:tag", hub("library/test.com", { tag: "tag" })],
  ["test.com:5000", hub("library/test.com", { tag: "5000" })],
  ["test.com/repo:tag", { domain: "test.com", path: "repo", tag: "tag" }],
  ["test:5000/repo", { domain: "test:5000", path: "repo" }],
  ["test:5000/repo:tag", { domain: "test:5000", path: "repo", tag: "tag" }],
  [`test:5000/repo@${SHA256_F}`, { domain: "test:5000", path: "repo", digest: SHA256_F }],
  [`test:5000/repo:tag@${SHA256_F}`, { domain: "test:5000", path: "repo", tag: "tag", digest: SHA256_F }],
  ["lowercase:Uppercase", hub("library/lowercase", { tag: "Uppercase" })],
  // 255 characters of path is the limit, not counting the registry host
  ["a/".repeat(127) + "a:tag-puts-this-over-max", hub("a/".repeat(127) + "a", { tag: "tag-puts-this-over-max" })],
  [`example.com/${"a".repeat(255)}:tag`, { domain: "example.com", path: "a".repeat(255), tag: "tag" }],
  ["sub-dom1.foo.com/bar/baz/quux", { domain: "sub-dom1.foo.com", path: "bar/baz/quux" }],
  ["sub-dom1.foo.com/bar/baz/quux:some-long-tag", { domain: "sub-dom1.foo.com", path: "bar/baz/quux", tag: "some-long-tag" }],
  ["b.gcr.io/test.example.com/my-app:test.example.com", { domain: "b.gcr.io", path: "test.example.com/my-app", tag: "test.example.com" }],
  ["xn--n3h.com/myimage:xn--n3h.com", { domain: "xn--n3h.com", path: "myimage", tag: "xn--n3h.com" }],
  [`xn--7o8h.com/myimage:xn--7o8h.com@${SHA512_F}`, { domain: "xn--7o8h.com", path: "myimage", tag: "xn--7o8h.com", digest: SHA512_F }],
  ["foo_bar.com:8080", hub("library/foo_bar.com", { tag: "8080" })],
  ["foo/foo_bar.com:8080", hub("foo/foo_bar.com", { tag: "8080" })],
  ["192.168.1.1", hub("library/192.168.1.1")],
  ["192.168.1.1:tag", hub("library/192.168.1.1", { tag: "tag" })],
  ["192.168.1.1:5000", hub("library/192.168.1.1", { tag: "5000" })],
  ["192.168.1.1/repo", { domain: "192.168.1.1", path: "repo" }],
  ["192.168.1.1:5000/repo", { domain: "192.168.1.1:5000", path: "repo" }],
  ["192.168.1.1:5000/repo:5050", { domain: "192.168.1.1:5000", path: "repo", tag: "5050" }],
  ["[2001:db8::1]/repo", { domain: "[2001:db8::1]", path: "repo" }],
  ["[2001:db8:1:2:3:4:5:6]/repo:tag", { domain: "[2001:db8:1:2:3:4:5:6]", path: "repo", tag: "tag" }],
  ["[2001:db8::1]:5000/repo", { domain: "[2001:db8::1]:5000", path: "repo" }],
  ["[2001:db8::1]:5000/repo:tag", { domain: "[2001:db8::1]:5000", path: "repo", tag: "tag" }],
  [`[2001:db8::1]:5000/repo@${SHA256_F}`, { domain: "[2001:db8::1]:5000", path: "repo", digest: SHA256_F }],
  [`[2001:db8::1]:5000/repo:tag@${SHA256_F}`, { domain: "[2001:db8::1]:5000", path: "repo", tag: "tag", digest: SHA256_F }],
  ["[2001:db8::]:5000/repo", { domain: "[2001:db8::]:5000", path: "repo" }],
  ["[::1]:5000/repo", { domain: "[::1]:5000", path: "repo" }],
  // normalize_test.go TestValidateReferenceName
  ["docker/docker", hub("docker/docker")],
  ["library/debian", hub("library/debian")],
  ["debian", hub("library/debian")],
  ["docker.io/docker/docker", hub("docker/docker")],
  ["docker.io/library/debian", hub("library/debian")],
  ["docker.io/debian", hub("library/debian")],
  ["index.docker.io/docker/docker", hub("docker/docker")],
  ["index.docker.io/library/debian", hub("library/debian")],
  ["index.docker.io/debian", hub("library/debian")],
  ["127.0.0.1:5000/docker/docker", { domain: "127.0.0.1:5000", path: "docker/docker" }],
  ["127.0.0.1:5000/library/debian", { domain: "127.0.0.1:5000", path: "library/debian" }],
  ["127.0.0.1:5000/debian", { domain: "127.0.0.1:5000", path: "debian" }],
  ["192.168.0.1", hub("library/192.168.0.1")],
  ["192.168.0.1:80", hub("library/192.168.0.1", { tag: "80" })],
  ["192.168.0.1:8/debian", { domain: "192.168.0.1:8", path: "debian" }],
  ["192.168.0.2:25000/debian", { domain: "192.168.0.2:25000", path: "debian" }],
  [
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    hub("library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev"),
  ],
  ["[fc00::1]:5000/docker", { domain: "[fc00::1]:5000", path: "docker" }],
  ["[fc00::1]:5000/docker/docker", { domain: "[fc00::1]:5000", path: "docker/docker" }],
  ["[fc00:1:2:3:4:5:6:7]:5000/library/debian", { domain: "[fc00:1:2:3:4:5:6:7]:5000", path: "library/debian" }],
  // a 64-hex name is unambiguous once a host is given
  [`docker.io/${HEX64}`, hub(`library/${HEX64}`)],
  // an uppercase first component can only be a host
  ["Docker/docker", { domain: "Docker", path: "docker" }],
  ["DOCKER/docker", { domain: "DOCKER", path: "docker" }],
  ["Asdf.com/foo/bar", { domain: "Asdf.com", path: "foo/bar" }],
  // normalize_test.go TestValidateRemoteName
  ["docker-rules/docker", hub("docker-rules/docker")],
  ["docker---rules/docker", hub("docker---rules/docker")],
  ["doc/docker", hub("doc/docker")],
  ["d/docker", hub("d/docker")],
  ["jess/t", hub("jess/t")],
  ["dock__er/docker", hub("dock__er/docker")],
  // normalize_test.go TestParseRepositoryInfo, TestParseAnyReference, TestNormalizedSplitHostname
  ["library/foo/bar", hub("library/foo/bar")],
  ["store/foo/bar", hub("store/foo/bar")],
  ["other/library", hub("other/library")],
  ["library/ubuntu-12.04-base", hub("library/ubuntu-12.04-base")],
  [`busybox:latest@${BUSYBOX_DIGEST}`, hub("library/busybox", { tag: "latest", digest: BUSYBOX_DIGEST })],
  [`redis@${REDIS_DIGEST}`, hub("library/redis", { digest: REDIS_DIGEST })],
  [`dmcgowan/myapp@${REDIS_DIGEST}`, hub("dmcgowan/myapp", { digest: REDIS_DIGEST })],
  [
    "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9",
    hub("library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9"),
  ],
  ["dbcc1", hub("library/dbcc1")],
  ["test-com:8080/foo", { domain: "test-com:8080", path: "foo" }],
  ["xn--n3h.com:18080/foo", { domain: "xn--n3h.com:18080", path: "foo" }],
  // regexp_test.go TestFullNameRegexp / TestDomainRegexp
  [
    "registry.io/foo/project--id.module--name.ver---sion--name",
    { domain: "registry.io", path: "foo/project--id.module--name.ver---sion--name" },
  ],
  ["example.com/some_separator__underscore/myimage", { domain: "example.com", path: "some_separator__underscore/myimage" }],
  ["example.com/xn--7o8h.com/myimage", { domain: "example.com", path: "xn--7o8h.com/myimage" }],
  ["aa/aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb", hub("aa/aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb")],
  ["aa-a/a", hub("aa-a/a")],
  ["do__cker/docker", hub("do__cker/docker")],
  ["0101.com/x", { domain: "0101.com", path: "x" }],
  ["b.gbc.io:443/x", { domain: "b.gbc.io:443", path: "x" }],
  [
    `registry.com:8080/myapp:tag2@sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912`,
    {
      domain: "registry.com:8080",
      path: "myapp",
      tag: "tag2",
      digest: "sha256:be178c0543eb17f5f3043021c9e5fcf30285e557a4fc309cce97ff9ca6182912",
    },
  ],
  // bare localhost:PORT has no slash, so it is name:tag on docker.io (docker's known quirk)
  ["localhost:5000", hub("library/localhost", { tag: "5000" })],
  [`localhost:8080@${SHA256_F}`, hub("library/localhost", { tag: "8080", digest: SHA256_F })],
  ["localhost/foo", { domain: "localhost", path: "foo" }],
  ["localhost:5000/foo/bar:1.0", { domain: "localhost:5000", path: "foo/bar", tag: "1.0" }],
  // a 64-hex string followed by a tag is not an image ID (docker checks the whole input)
  [`${HEX64}:tag`, hub(`library/${HEX64}`, { tag: "tag" })],
  // tags: up to 128 characters of [\w][\w.-]*
  [`foo:${"a".repeat(128)}`, hub("library/foo", { tag: "a".repeat(128) })],
  ["foo:_under.score-dash", hub("library/foo", { tag: "_under.score-dash" })],
  ["127.0.0.1:65535/x", { domain: "127.0.0.1:65535", path: "x" }],
  // on docker.io a first path component that reads as a host keeps the host in the short form
  ["docker.io/foo.com/bar", hub("foo.com/bar")],
  ["index.docker.io/localhost/x", hub("localhost/x")],
];

interface InvalidVector {
  input: string;
  why: string;
}

const bad = (input: string, why: string): InvalidVector => ({ input, why });

const INVALID: InvalidVector[] = [
  // reference_test.go
  bad("", "empty"),
  bad(":justtag", "no name"),
  bad(`@${SHA256_F}`, "no name"),
  bad("repo@sha256:ffffffffffffffffffffffffffffffffff", "short digest"),
  bad(`validname@invaliddigest:${F64}`, "unknown digest algorithm"),
  bad("Uppercase:tag", "uppercase repository"),
  bad("test:5000/Uppercase/lowercase:tag", "uppercase repository"),
  bad("a/".repeat(128) + "a:tag", "path over 255"),
  bad(`domain/${"a".repeat(256)}:tag`, "path over 255"),
  bad(`example.com/${"a".repeat(256)}`, "path over 255"),
  bad("aa/asdf$$^/aa", "bad characters"),
  bad("[2001:db8::1]", "IPv6 without a path"),
  bad("[2001:db8::1]:5000", "IPv6 with port without a path"),
  bad("[2001:db8::1]:tag", "IPv6 as a name"),
  bad("[fe80::1%eth0]:5000/repo", "zone identifier"),
  bad("[fe80::1%@invalidzone]:5000/repo", "zone identifier"),
  // normalize_test.go
  bad("https://github.com/docker/docker", "a URL"),
  bad("docker/Docker", "uppercase repository"),
  bad("-docker", "leading dash"),
  bad("-docker/docker", "leading dash"),
  bad("-docker.io/docker/docker", "leading dash in host"),
  bad("docker///docker", "empty components"),
  bad("docker.io/docker/Docker", "uppercase repository"),
  bad("docker.io/docker///docker", "empty components"),
  bad("[fc00::1]", "IPv6 without a path"),
  bad("[fc00::1]:5000", "IPv6 without a path"),
  bad("fc00::1:5000/debian", "IPv6 without brackets"),
  bad("[fe80::1%eth0]:5000/debian", "zone identifier"),
  bad("[2001:db8:3:4::192.0.2.33]:5000/debian", "IPv4-mapped IPv6"),
  bad(HEX64, "64-hex image ID"),
  bad("docker-/docker", "trailing dash"),
  bad("-docker-/docker", "dashes around"),
  bad("____/____", "only underscores"),
  bad("_docker/_docker", "leading underscore"),
  bad("dock..er/docker", "double dot"),
  bad("dock_.er/docker", "mixed separators"),
  bad("dock-.er/docker", "mixed separators"),
  bad("docker/", "no repository"),
  bad(`${"this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_".repeat(4)}/docker`, "namespace over 255"),
  bad("-foo", "leading dash"),
  bad("busybox:-foo", "tag starting with a dash"),
  bad(`foo:${"a".repeat(129)}`, "tag over 128"),
  // regexp_test.go
  bad("registry.com:8080/myapp@sha256:badbadbadbad", "short digest"),
  bad("registry.com:8080/myapp:invalid~tag", "bad tag"),
  bad("bad_hostname.com:8080/myapp:tag", "underscore in host"),
  bad(`localhost:http/name@${SHA256_F}`, "non-numeric port"),
  bad("registry.com:8080/myapp@bad", "bad digest"),
  bad("registry.com:8080/myapp@2bad", "bad digest"),
  bad("foo.com:http/bar", "non-numeric port"),
  bad("foo.com/", "empty path"),
  bad("a/a/a/a/", "trailing slash"),
  bad("a//a/a", "empty component"),
  bad("a^a", "bad character"),
  bad("asdf$$^/aa", "bad characters"),
  bad("a-/a/a/a", "trailing dash"),
  bad("foo.com/a-/a/a", "trailing dash"),
  bad("foo/bar-", "trailing dash"),
  bad("foo/-bar", "leading dash"),
  bad("foo-/bar", "trailing dash"),
  bad("docker_/docker_", "trailing underscore"),
  bad("foo_bar.com:8080/app", "underscore in host"),
  bad("example.com/__underscore/myimage", "leading underscores"),
  bad("example.com/..dots/myimage", "leading dots"),
  bad("example.com/.dots/myimage", "leading dot"),
  bad("example.com/nodouble..dots/myimage", "double dot"),
  bad("docker./docker", "trailing dot"),
  bad(".docker/docker", "leading dot"),
  bad("do..cker/docker", "double dot"),
  bad("do__cker:8080/docker", "underscore in host"),
  bad("[fd00:1:2::3]75050/x", "IPv6 port without colon"),
  bad("[fd00:1:2::3]::75050/x", "IPv6 port with two colons"),
  bad("Foo/FarB", "uppercase repository"),
  // dray: only digests it can verify, lowercase hex of the right length
  bad(`alpine@md5:${"a".repeat(32)}`, "md5 digest"),
  bad(`alpine@sha384:${"a".repeat(96)}`, "sha384 digest"),
  bad(`alpine@sha256:${"F".repeat(64)}`, "uppercase hex"),
  bad(`alpine@sha512:${"a".repeat(64)}`, "sha512 of sha256 length"),
  bad(`alpine@sha256:${"a".repeat(65)}`, "sha256 too long"),
  bad(`alpine@sha256+b64:${"a".repeat(64)}`, "compound algorithm"),
  bad(`alpine@${SHA256_F}:tag`, "tag after digest"),
  bad(`alpine@${SHA256_F}@${SHA256_F}`, "two digests"),
  // dray: hosts a URL can actually carry
  bad("192.168.1.1:75050/repo", "port over 65535"),
  bad("[fd00123123123]:5000/repo", "not an IPv6 address"),
  bad("[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:750505/x", "port over 65535"),
  bad("127.0.0.999:5000/x", "not an IPv4 address"),
  // whitespace and control characters never reach a URL
  bad("alpine ", "trailing space"),
  bad(" alpine", "leading space"),
  bad("alpine\n", "newline"),
  bad("alpine:tag\u0000", "NUL in tag"),
  bad("alpine:t ag", "space in tag"),
  bad("al/pine\u00e9", "non-ASCII"),
];

describe("parseReference: valid vectors", () => {
  for (const [input, expected] of VALID) {
    it(`accepts ${JSON.stringify(input.length > 90 ? `${input.slice(0, 87)}...` : input)}`, () => {
      const ref = parseReference(input);
      assert.deepEqual(plain(ref), expected);
      // The canonical text parses back to the same reference.
      assert.deepEqual(plain(parseReference(formatReference(ref))), expected);
      // So does the short form docker prints.
      assert.deepEqual(plain(parseReference(familiarReference(ref))), expected);
    });
  }
});

describe("parseReference: invalid vectors", () => {
  for (const { input, why } of INVALID) {
    it(`rejects ${JSON.stringify(input.length > 70 ? `${input.slice(0, 67)}...` : input)} (${why})`, () => {
      assert.throws(
        () => parseReference(input),
        (e: unknown) => isDrayError(e, "E_REF_INVALID") && e.message.startsWith("invalid reference"),
      );
    });
  }
});

describe("normalisation (TestParseRepositoryInfo)", () => {
  // [familiar, full, ...other spellings that mean the same repository]
  const cases: Array<[string, string, ...string[]]> = [
    ["fooo/bar", "docker.io/fooo/bar", "index.docker.io/fooo/bar"],
    ["ubuntu", "docker.io/library/ubuntu", "library/ubuntu", "docker.io/ubuntu", "index.docker.io/library/ubuntu"],
    ["nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu"],
    ["other/library", "docker.io/other/library"],
    ["127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase"],
    ["127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase"],
    ["example.com/private/moonbase", "example.com/private/moonbase"],
    ["example.com:8000/privatebasee", "example.com:8000/privatebasee"],
    ["ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base", "index.docker.io/library/ubuntu-12.04-base"],
    ["foo", "docker.io/library/foo", "docker.io/foo"],
    ["library/foo/bar", "docker.io/library/foo/bar"],
    ["store/foo/bar", "docker.io/store/foo/bar"],
    ["Foo/bar", "Foo/bar"],
    ["FOO/bar", "FOO/bar"],
  ];
  for (const [familiar, full, ...others] of cases) {
    it(`${familiar} is ${full}`, () => {
      for (const spelling of [familiar, full, ...others]) {
        const ref = parseReference(spelling);
        assert.equal(repositoryName(ref), full, spelling);
        assert.equal(familiarReference(ref), familiar, spelling);
      }
    });
  }

  it("keeps tag and digest in the familiar form", () => {
    const short = `busybox:latest@${BUSYBOX_DIGEST}`;
    const ref = parseReference(short);
    assert.equal(formatReference(ref), `docker.io/library/${short}`);
    assert.equal(familiarReference(ref), short);
  });

  it("adds latest only when neither tag nor digest is given", () => {
    assert.equal(formatReference(withDefaultTag(parseReference("alpine"))), "docker.io/library/alpine:latest");
    assert.equal(formatReference(withDefaultTag(parseReference("alpine:3"))), "docker.io/library/alpine:3");
    assert.equal(formatReference(withDefaultTag(parseReference(`alpine@${SHA256_F}`))), `docker.io/library/alpine@${SHA256_F}`);
  });
});

describe("hosts", () => {
  const hosts: Array<[domain: string, host: string, loopback: boolean]> = [
    ["localhost", "localhost", true],
    ["localhost:5000", "localhost", true],
    ["LOCALHOST:5000", "localhost", true],
    ["127.0.0.1:5000", "127.0.0.1", true],
    ["127.1.2.3", "127.1.2.3", true],
    ["[::1]:5000", "::1", true],
    ["[::1]", "::1", true],
    ["[0:0:0:0:0:0:0:1]:5000", "0:0:0:0:0:0:0:1", true],
    ["docker.io", "docker.io", false],
    ["128.0.0.1:5000", "128.0.0.1", false],
    ["[2001:db8::1]:5000", "2001:db8::1", false],
    ["localhost.example.com", "localhost.example.com", false],
    ["127.0.0.1.example.com", "127.0.0.1.example.com", false],
  ];
  for (const [domain, host, loopback] of hosts) {
    it(`${domain} is host ${host}, ${loopback ? "" : "not "}loopback`, () => {
      assert.equal(hostOf(domain), host);
      assert.equal(isLoopbackDomain(domain), loopback);
    });
  }
});
