// Registry behaviours that differ from distribution 2.8, emulated with the
// fault proxy in front of the real registry (reached as registry.example.test
// over HTTPS, token realm on auth.example.test). Each test is named after the
// registries that show the behaviour; the facts are cited where they are used.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { buildImage, pushImage, type BuiltImage } from "../helpers/fixtures.js";
import { makeTempDir } from "../helpers/tmp.js";
import { startVendor, type VendorEmulation } from "../helpers/vendor.js";
import { dray } from "../cli/run.js";

/** Docker Hub's answer headers, as its docs show them (docs.docker.com/docker-hub/usage/pulls). */
const HUB_LIMIT = { "RateLimit-Limit": "100;w=21600", "RateLimit-Remaining": "76;w=21600", "docker-ratelimit-source": "192.0.2.7" };

describe("vendor behaviours", () => {
  let v: VendorEmulation;
  let image: BuiltImage;
  let other: BuiltImage;
  let auth: string[];
  const loc = (path: string): string => `docker://${v.ref(path)}`;
  before(async () => {
    v = await startVendor();
    image = await buildImage({ seed: "vendor-app" });
    other = await buildImage({ seed: "vendor-other" });
    await pushImage(v.target, "lib/app", "v1", image);
    await pushImage(v.target, "lib/app", "v2", image);
    auth = ["--creds", `${v.username}:${v.password}`, "--ca-file", v.caFile];
  });
  after(() => v.hosts.stop());

  it("Nexus: HEAD on manifests answers 405 — digest and the copy's up-to-date check fall back to GET", async () => {
    // Nexus answers a manifest HEAD 405 (merll/docker-registry-util#3 "HEAD not working in Nexus").
    const rule = v.front.addRule({
      method: "HEAD",
      path: "/manifests/",
      action: { kind: "status", status: 405, body: '{"errors":[{"code":"UNSUPPORTED","message":"method not allowed"}]}' },
    });
    try {
      const digest = await dray(["digest", loc("lib/app:v1"), ...auth], { env: v.env });
      assert.equal(digest.code, 0, digest.stderr);
      assert.equal(digest.stdout.trim(), image.manifest.digest.toString());
      const first = await dray(["copy", loc("lib/app:v1"), loc("lib/nexus:v1"), ...auth, "--format", "json", "-q"], { env: v.env });
      assert.equal(first.code, 0, first.stderr);
      const again = await dray(["copy", loc("lib/app:v1"), loc("lib/nexus:v1"), ...auth, "--format", "json", "-q"], { env: v.env });
      assert.equal(again.code, 0, again.stderr);
      assert.equal((JSON.parse(again.stdout) as { UpToDate?: boolean }).UpToDate, true, again.stdout);
      assert.ok(rule.hits > 0, "the registry refused HEAD");
    } finally {
      rule.remove();
    }
  });

  it("ECR: immutable tags on a second --all-tags — tags already there are asked for first, never PUT again", async () => {
    const first = await dray(["copy", "--all-tags", loc("lib/app"), loc("lib/ecr"), ...auth, "-q"], { env: v.env });
    assert.equal(first.code, 0, first.stderr);
    // ECR's refusal (aws/containers-roadmap#862, kaniko#3481): 400 TAG_INVALID on any PUT of an existing tag.
    const refuse = v.front.addRule({
      method: "PUT",
      path: /^\/v2\/lib\/ecr\/manifests\/(?!sha256:)/,
      action: {
        kind: "status",
        status: 400,
        body: JSON.stringify({
          errors: [
            {
              code: "TAG_INVALID",
              message:
                "The image tag 'v1' already exists in the 'lib/ecr' repository and cannot be overwritten because the tag is immutable.",
            },
          ],
        }),
      },
    });
    try {
      const second = await dray(["copy", "--all-tags", loc("lib/app"), loc("lib/ecr"), ...auth, "-q"], { env: v.env });
      assert.equal(second.code, 0, second.stderr);
      assert.equal(refuse.hits, 0, "no tag PUT was sent");
    } finally {
      refuse.remove();
    }
  });

  it("ECR/Harbor: a refused tag PUT is success when the tag holds our digest, and a clear immutable-tag error when it holds another", async () => {
    await pushImage(v.target, "lib/imm", "same", image);
    await pushImage(v.target, "lib/imm", "taken", other);
    const refuse = v.front.addRule({
      method: "PUT",
      path: /^\/v2\/lib\/imm\/manifests\/(?!sha256:)/,
      action: { kind: "status", status: 400, body: '{"errors":[{"code":"TAG_INVALID","message":"tag is immutable"}]}' },
    });
    // The copy's own up-to-date HEAD (with its token) misses once (a replica behind), so the PUT is tried.
    const miss = v.front.addRule({
      method: "HEAD",
      path: "/v2/lib/imm/manifests/same",
      times: 1,
      authorized: true,
      action: { kind: "status", status: 404, body: '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}' },
    });
    try {
      const same = await dray(["copy", loc("lib/app:v1"), loc("lib/imm:same"), ...auth, "-q"], { env: v.env });
      assert.equal(same.code, 0, same.stderr);
      assert.equal(miss.hits, 1);
      assert.ok(refuse.hits >= 1, "the PUT was refused");
      const taken = await dray(["copy", loc("lib/app:v1"), loc("lib/imm:taken"), ...auth, "-q"], { env: v.env });
      assert.equal(taken.code, 1, taken.stderr);
      assert.match(
        taken.stderr,
        new RegExp(
          `^dray: tag taken at docker://registry\\.example\\.test/lib/imm is immutable: it names ${other.manifest.digest}, and the registry refused to point it at ${image.manifest.digest} \\(TAG_INVALID\\)\\n$`,
        ),
      );
    } finally {
      refuse.remove();
      miss.remove();
    }
  });

  it("GitLab/Harbor: the token service refuses a mount's combined scopes (403) — the blobs are uploaded instead", async () => {
    // A token request naming two repositories (push on the destination, pull on the source) is refused.
    const refuse = v.tokenFront.addRule({
      method: "GET",
      path: /scope=[^&]*&scope=/,
      action: { kind: "status", status: 403, body: '{"errors":[{"code":"DENIED","message":"access forbidden"}]}' },
    });
    const seen = v.tokenFront.log.length;
    try {
      const r = await dray(["copy", loc("lib/app:v1"), loc("lib/mountless:v1"), ...auth, "--format", "json", "-q"], { env: v.env });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(refuse.hits > 0, "a mount was tried");
      const summary = JSON.parse(r.stdout) as { Blobs: { Copied: number; Mounted: number } };
      assert.equal(summary.Blobs.Mounted, 0);
      assert.ok(summary.Blobs.Copied > 0, r.stdout);
      // The destination's scope goes first in the combined request.
      const combined = v.tokenFront.log.slice(seen).find((e) => /scope=[^&]*&scope=/.test(e.path));
      assert.ok(
        combined && /scope=repository%3Alib%2Fmountless%3A[^&]*&scope=repository%3Alib%2Fapp%3Apull/.test(combined.path),
        combined?.path,
      );
    } finally {
      refuse.remove();
    }
  });

  it("Quay/Artifactory-style tag-list Link that is cross-origin, malformed or loops: a warning that names it, never a silent truncation", async () => {
    const cases: Array<[string, RegExp]> = [
      [
        '<https://mirror.elsewhere.test/v2/lib/app/tags/list?last=v1>; rel="next"',
        /points the next page at another origin \(https:\/\/mirror\.elsewhere\.test\)/,
      ],
      ["/v2/lib/app/tags/list?last=v1; rel=next", /Link header is malformed/],
      ['</v2/lib/app/tags/list>; rel="next"', /loops back to a page already read/],
    ];
    for (const [link, expected] of cases) {
      const rule = v.front.addRule({
        method: "GET",
        path: "/v2/lib/app/tags/list",
        action: { kind: "replaceHeader", name: "Link", value: link },
      });
      try {
        const r = await dray(["ls", loc("lib/app"), ...auth], { env: v.env });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "v1\nv2\n");
        assert.match(r.stderr, /^dray: warning: tag list of docker:\/\/registry\.example\.test\/lib\/app may be incomplete: /);
        assert.match(r.stderr, expected);
        assert.match(r.stderr, /stopped after 2 entries\n$/);
      } finally {
        rule.remove();
      }
    }
    assert.ok(!v.hosts.refused.includes("mirror.elsewhere.test"), "the other origin was never asked");
  });

  it("a WWW-Authenticate the strict parser refuses (parameters without commas, an unterminated quote) is read for realm/service", async () => {
    for (const challenge of [
      'Bearer realm="https://auth.example.test/token" service="dray-test-registry"',
      'Bearer realm="https://auth.example.test/token",service="dray-test-registry',
    ]) {
      const rule = v.front.addRule({ path: "/v2/", action: { kind: "replaceHeader", name: "WWW-Authenticate", value: challenge } });
      try {
        const r = await dray(["digest", loc("lib/app:v1"), ...auth, "--debug"], { env: v.env });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.trim(), image.manifest.digest.toString());
        assert.match(r.stderr, /WWW-Authenticate of registry\.example\.test read leniently/);
      } finally {
        rule.remove();
      }
    }
  });

  it("GCR-style token service without the OAuth2 POST (404): an identity token is sent with GET instead", async () => {
    v.registry.tokenServer!.refreshTokens.add("refresh-gcr-1");
    const home = makeTempDir("dray-vendor-idtoken-");
    const dockerConfig = join(home, ".docker");
    mkdirSync(dockerConfig);
    const auths = { [v.registryHost]: { auth: Buffer.from(`${v.username}:`).toString("base64"), identitytoken: "refresh-gcr-1" } };
    writeFileSync(join(dockerConfig, "config.json"), JSON.stringify({ auths }));
    const env = { ...v.env, DOCKER_CONFIG: dockerConfig, HOME: home, XDG_RUNTIME_DIR: home, XDG_CONFIG_HOME: join(home, ".config") };
    const post = v.tokenFront.addRule({
      method: "POST",
      path: "/token",
      action: { kind: "status", status: 404, body: "404 page not found" },
    });
    try {
      const r = await dray(["copy", loc("lib/app:v1"), loc("lib/gcr:v1"), "--ca-file", v.caFile, "-q"], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(post.hits > 0, "the POST was tried first");
      assert.ok(
        v.registry.tokenServer!.log.some(
          (e) => e.method === "GET" && e.username === v.username && e.granted.some((g) => g.includes("lib/gcr") && g.includes("push")),
        ),
      );
    } finally {
      post.remove();
    }
  });

  it("Docker Hub: pull limit 429 with RateLimit headers — one line with the limit, what is left and when to retry (exit 1, after --retries)", async () => {
    const limited = v.front.addRule({
      method: "GET",
      path: "/v2/lib/app/manifests/",
      action: {
        kind: "status",
        status: 429,
        headers: {
          "RateLimit-Limit": "100;w=21600",
          "RateLimit-Remaining": "0;w=21600",
          "docker-ratelimit-source": "192.0.2.7",
          "Retry-After": "1",
        },
        body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}',
      },
    });
    try {
      const r = await dray(
        ["copy", loc("lib/app:v1"), `oci:${join(makeTempDir("dray-vendor-429-"), "out")}:v1`, ...auth, "--retries", "1", "-q"],
        { env: v.env },
      );
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr.split("\n").filter(Boolean).length, 1, r.stderr);
      assert.match(
        r.stderr,
        /^dray: rate limited by registry\.example\.test: manifest v1 at docker:\/\/registry\.example\.test\/lib\/app:v1; limit 100 per 6h, 0 left \(counted for 192\.0\.2\.7\); retry after \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in 1s\) \(TOOMANYREQUESTS\)\n$/,
      );
      assert.equal(limited.hits, 2, "the first answer and one retry (--retries 1)");
    } finally {
      limited.remove();
    }
  });

  it("Docker Hub: dray ratelimit prints the RateLimit headers from one HEAD (no GET, so no pull counted); --debug logs them", async () => {
    const headers = v.front.addRule({ method: "HEAD", path: "/v2/lib/app/manifests/", action: { kind: "setHeaders", headers: HUB_LIMIT } });
    try {
      const gets = v.front.count("GET", "/v2/lib/app/manifests/");
      const json = await dray(["ratelimit", loc("lib/app:v1"), ...auth, "--format", "json"], { env: v.env });
      assert.equal(json.code, 0, json.stderr);
      assert.deepEqual(JSON.parse(json.stdout), {
        Registry: "registry.example.test",
        Repository: "lib/app",
        Reference: "v1",
        Status: 200,
        Limit: 100,
        Remaining: 76,
        WindowSeconds: 21600,
        Source: "192.0.2.7",
      });
      const text = await dray(["ratelimit", loc("lib/app"), ...auth], { env: v.env });
      assert.equal(text.stdout, "registry.example.test: 100 per 6h, 76 left (counted for 192.0.2.7)\n");
      assert.equal(v.front.count("GET", "/v2/lib/app/manifests/"), gets, "no manifest GET");
      headers.remove();
      // Docker Hub sends them on GETs too; --debug shows what any answer said.
      v.front.addRule({ method: "GET", path: "/v2/lib/app/manifests/", times: 1, action: { kind: "setHeaders", headers: HUB_LIMIT } });
      const debug = await dray(["digest", loc("lib/app:v1"), ...auth, "--debug"], { env: v.env });
      assert.equal(debug.code, 0, debug.stderr);
      assert.match(debug.stderr, /rate limit of registry\.example\.test: 100 per 6h, 76 left \(counted for 192\.0\.2\.7\)/);
    } finally {
      headers.remove();
    }
  });
});

describe("Artifact Registry / ACR: a credential from a helper that expires during the run is read again once", () => {
  let v: VendorEmulation;
  before(async () => {
    v = await startVendor();
    await pushImage(v.target, "lib/app", "v1", await buildImage({ seed: "vendor-helper" }));
  });
  after(() => v.hosts.stop());

  it("the token service refuses the helper's first (expired) answer; dray asks the helper again and goes on", async () => {
    // gcloud's docker-credential-gcr hands out 1-hour access tokens (cloud.google.com/artifact-registry/docs/docker/authentication);
    // this helper answers an expired password first, then the live one.
    const home = makeTempDir("dray-vendor-helper-");
    const bin = join(home, "bin");
    const dockerConfig = join(home, ".docker");
    mkdirSync(bin);
    mkdirSync(dockerConfig);
    const script = [
      "#!/bin/sh",
      `count_file="${join(home, "calls")}"`,
      'n=$(cat "$count_file" 2>/dev/null || echo 0); n=$((n+1)); echo "$n" > "$count_file"',
      "cat >/dev/null",
      `if [ "$n" -eq 1 ]; then pw="expired-token"; else pw="${v.password}"; fi`,
      `printf '{"ServerURL":"%s","Username":"${v.username}","Secret":"%s"}' "${v.registryHost}" "$pw"`,
      "",
    ].join("\n");
    writeFileSync(join(bin, "docker-credential-vendortest"), script, { mode: 0o755 });
    writeFileSync(join(dockerConfig, "config.json"), JSON.stringify({ credHelpers: { [v.registryHost]: "vendortest" } }));
    const env = {
      ...v.env,
      PATH: `${bin}:${process.env.PATH ?? ""}`,
      DOCKER_CONFIG: dockerConfig,
      HOME: home,
      XDG_RUNTIME_DIR: home,
      XDG_CONFIG_HOME: join(home, ".config"),
    };
    const r = await dray(["copy", `docker://${v.ref("lib/app:v1")}`, `oci:${join(home, "out")}:v1`, "--ca-file", v.caFile, "-q"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(home, "calls"), "utf8").trim(), "2", "the helper was asked twice, not more");
    const refused = v.registry.tokenServer!.log.filter((e) => e.status === 401);
    assert.equal(refused.length, 1, "one refusal, then the fresh credential");
  });
});
