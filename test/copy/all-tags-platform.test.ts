// copy --all-tags with --platform and with referrer tags, against the real
// registry (issue 27, item 7): a tag without the platform is skipped and
// reported, not a failure of the whole copy; referrer tags (`sha256-<hex>`,
// `.sig`) are not copied as images, --referrers brings them, as sync does.
import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { dray, drayOk } from "../cli/run.js";
import { buildImage, buildIndex, pushImage } from "../helpers/fixtures.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";
import { pushSignedImage, type SignedImage } from "../sync/artifacts.js";

describe("copy --all-tags with --platform and referrer tags", () => {
  let reg: RegistryHandle;
  let dir: string;
  let signed: SignedImage;
  const ls = async (loc: string): Promise<string[]> => (await drayOk(["ls", loc])).stdout.trim().split("\n").sort();

  before(async () => {
    reg = await startRegistry();
    dir = makeTempDir("dray-all-tags-platform-");
    await pushImage({ url: reg.url }, "app", "multi", await buildIndex({ seed: "atp", platforms: ["linux/amd64", "linux/arm64"] }));
    await pushImage({ url: reg.url }, "app", "arm", await buildImage({ seed: "atp-arm", platform: "linux/arm64" }));
    signed = await pushSignedImage(reg, "app", "amd", "atp-signed"); // amd64, with a sha256-<hex> index and a .sig tag
  });

  it("--platform linux/arm64: tags that have it are copied, the others skipped and reported (exit 0)", async () => {
    const out = join(dir, "arm");
    const r = await dray(["copy", "--all-tags", "--platform", "linux/arm64", `docker://${reg.host}/app`, `oci:${out}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      r.stdout
        .trim()
        .split("\n")
        .map((l) => l.split(" ")[0]),
      ["arm", "multi"],
    );
    assert.match(r.stderr, /^skipped {5}amd: platform linux\/arm64 not found/m);
    assert.match(r.stderr, /Copied 2 tags \(1 skipped\)/);
    assert.deepEqual(await ls(`oci:${out}`), ["arm", "multi"]);
    const none = await dray(["copy", "--all-tags", "--platform", "linux/s390x", `docker://${reg.host}/app`, `oci:${join(dir, "none")}`]);
    assert.equal(none.code, 3, none.stderr);
    assert.match(none.stderr, /no tag of \S+ has linux\/s390x/);
  });

  it("referrer tags are not copied as images; --referrers brings them with their image", async () => {
    const plain = join(dir, "plain");
    const r = await drayOk(["copy", "--all-tags", `docker://${reg.host}/app`, `oci:${plain}`]);
    assert.deepEqual(
      r.stdout
        .trim()
        .split("\n")
        .map((l) => l.split(" ")[0]),
      ["amd", "arm", "multi"],
    );
    assert.match(r.stderr, /2 referrer tags not copied as images; --referrers brings them/);
    assert.deepEqual(await ls(`oci:${plain}`), ["amd", "arm", "multi"]);
    const withReferrers = join(dir, "with");
    await drayOk(["copy", "--all-tags", "--referrers", `docker://${reg.host}/app`, `oci:${withReferrers}`]);
    assert.deepEqual(await ls(`oci:${withReferrers}`), ["amd", "arm", "multi", `sha256-${signed.hex}`, `sha256-${signed.hex}.sig`].sort());
  });
});
