// sync with a conversion follows copy's rule (issue 27, item 6): a converted
// image has a new digest, so the source's referrers (which name the old one)
// are not attached; one notice says so. They failed with a digest mismatch on
// every run (--manifest-format docker) or were copied dangling (--compress).
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { dray } from "../cli/run.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { listTags, pushSignedImage } from "./artifacts.js";

describe("sync with a conversion and referrers", () => {
  let regA: RegistryHandle;
  let regB: RegistryHandle;
  before(async () => {
    [regA, regB] = await Promise.all([startRegistry(), startRegistry()]);
    await pushSignedImage(regA, "app", "v1", "convert-referrers");
  });

  for (const [flag, repo] of [
    [["--manifest-format", "docker"], "docker"],
    [["--compress", "zstd"], "zstd"],
  ] as const) {
    it(`${flag.join(" ")}: the image is converted, its referrers stay behind with one notice, exit 0 on every run`, async () => {
      for (let run = 0; run < 2; run++) {
        const r = await dray(["sync", `${regA.host}/app`, `${regB.host}/${repo}`, ...flag]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr.match(/dray: note: converted images get new digests/g)?.length, 1, r.stderr);
        assert.doesNotMatch(r.stderr, /referrer sha256:/, "no referrer copied or failed");
      }
      assert.deepEqual(await listTags(regB, repo), ["v1"], "no referrer tag dangling beside the converted image");
    });
  }
});
