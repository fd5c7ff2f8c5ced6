// Rate-limit headers as Docker Hub sends them (docs.docker.com/docker-hub/usage/pulls:
// "ratelimit-limit: 100;w=21600", "ratelimit-remaining: 0;w=21600",
// "docker-ratelimit-source: 2600:3c00::"), parsed and recorded per host.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  describeRateLimit,
  lastRateLimit,
  onRateLimit,
  parseRateLimit,
  recordRateLimit,
  resetRateLimits,
} from "../../../src/transport/registry/ratelimit.js";

describe("parseRateLimit", () => {
  it("reads Docker Hub's anonymous pull headers", () => {
    assert.deepEqual(
      parseRateLimit({ "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "76;w=21600", "docker-ratelimit-source": "2600:3c00::" }),
      {
        limit: 100,
        remaining: 76,
        windowSeconds: 21600,
        source: "2600:3c00::",
      },
    );
  });
  it("reads a count without a window, and the window from Remaining alone", () => {
    assert.deepEqual(parseRateLimit({ "ratelimit-limit": "5000" }), { limit: 5000 });
    assert.deepEqual(parseRateLimit({ "ratelimit-remaining": "0;w=60" }), { remaining: 0, windowSeconds: 60 });
  });
  it("takes the first policy of a list and tolerates spaces", () => {
    assert.deepEqual(parseRateLimit({ "ratelimit-limit": "200 ; w = 21600, 200;w=3600" }), { limit: 200, windowSeconds: 21600 });
  });
  it("ignores a malformed count but keeps the rest", () => {
    assert.deepEqual(parseRateLimit({ "ratelimit-limit": "lots;w=60", "docker-ratelimit-source": "abc" }), {
      windowSeconds: 60,
      source: "abc",
    });
  });
  it("is undefined when no header is there (authenticated Hub pulls with no limit send none)", () => {
    assert.equal(parseRateLimit({ "content-type": "application/json" }), undefined);
  });
  it("describes the state in one line", () => {
    assert.equal(
      describeRateLimit({ limit: 100, remaining: 0, windowSeconds: 21600, source: "1.2.3.4" }),
      "100 per 6h, 0 left (counted for 1.2.3.4)",
    );
  });
});

describe("rate limits recorded per host", () => {
  it("keeps the last state per host and tells listeners", () => {
    resetRateLimits();
    const seen: string[] = [];
    const stop = onRateLimit((host, info) => seen.push(`${host}:${info.remaining}`));
    recordRateLimit("registry-1.docker.io", { "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "9;w=21600" });
    recordRateLimit("registry-1.docker.io", { "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "8;w=21600" });
    recordRateLimit("ghcr.io", {});
    stop();
    recordRateLimit("registry-1.docker.io", { "ratelimit-remaining": "7" });
    assert.deepEqual(seen, ["registry-1.docker.io:9", "registry-1.docker.io:8"]);
    assert.equal(lastRateLimit("registry-1.docker.io")?.remaining, 7);
    assert.equal(lastRateLimit("ghcr.io"), undefined);
  });
});
