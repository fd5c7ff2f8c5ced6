// The archive round-trip matrix through the real copy engine (src/copy):
// source form × archive destination form, single and multi-platform, each
// cell checked by skopeo 1.9 reading what dray wrote.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { copy } from "../../../src/copy/index.js";
import { parseManifest, type ImageManifest } from "../../../src/oci/manifest.js";
import { parsePlatform } from "../../../src/oci/platform.js";
import { buildImage, buildIndex, writeOciLayout, type Built, type BuiltImage } from "../../helpers/fixtures.js";
import { assertSkopeoOk, skopeoCopy, skopeoInspectRaw } from "../../helpers/skopeo.js";
import { makeTempDir } from "../../helpers/tmp.js";

type SourceForm = "oci" | "oci-archive" | "docker-archive";

/** `built` stored in `form` by independent writers: the fixtures' layout writer, then skopeo for the archives. */
async function seed(dir: string, form: SourceForm, built: Built): Promise<string> {
  const layout = join(dir, "seed-layout");
  await writeOciLayout(layout, built, "s");
  if (form === "oci") return `oci:${layout}:s`;
  const file = join(dir, `seed-${form}.tar`);
  if (form === "oci-archive") {
    assertSkopeoOk(await skopeoCopy(`oci:${layout}:s`, `oci-archive:${file}:s`, ["--all", "--preserve-digests"]));
    return `oci-archive:${file}:s`;
  }
  assertSkopeoOk(await skopeoCopy(`oci:${layout}:s`, `docker-archive:${file}:seed/img:s`));
  return `docker-archive:${file}:seed/img:s`;
}

/** The image config digest skopeo sees in a docker-archive or oci-archive (single image). */
async function configDigestSeenBySkopeo(loc: string): Promise<string> {
  return (parseManifest(await skopeoInspectRaw(loc)) as ImageManifest).config.digest.toString();
}

describe("archive round-trip matrix through the copy engine, checked by skopeo", () => {
  const forms: SourceForm[] = ["oci", "oci-archive", "docker-archive"];
  for (const from of forms) {
    it(`${from} single → oci-archive and docker-archive`, async () => {
      const dir = makeTempDir();
      const img: BuiltImage = await buildImage({ seed: `mx-${from}`, layerCount: 2 });
      const src = await seed(dir, from, img);
      const oa = join(dir, "out-oci.tar");
      await copy(src, `oci-archive:${oa}:v1`);
      if (from === "docker-archive") {
        // The source manifest is dray's generated Docker schema 2; skopeo 1.9 finds such an index.json entry only without a REF.
        assert.equal(await configDigestSeenBySkopeo(`oci-archive:${oa}`), img.config.digest.toString());
      } else {
        assert.deepEqual(await skopeoInspectRaw(`oci-archive:${oa}:v1`), img.manifest.bytes, "digests preserved");
      }
      const da = join(dir, "out-docker.tar");
      await copy(src, `docker-archive:${da}:example.com/out:v1`);
      assert.equal(await configDigestSeenBySkopeo(`docker-archive:${da}:example.com/out:v1`), img.config.digest.toString());
      const layers = (parseManifest(await skopeoInspectRaw(`docker-archive:${da}`)) as ImageManifest).layers.map((l) =>
        l.digest.toString(),
      );
      assert.deepEqual(
        layers,
        img.layers.map((l) => l.diffId.toString()),
        "uncompressed layers, digests = diff_ids",
      );
    });
  }

  for (const from of ["oci", "oci-archive"] as const) {
    it(`${from} multi-platform → oci-archive (whole index) and docker-archive (one platform)`, async () => {
      const dir = makeTempDir();
      const idx = await buildIndex({ seed: `mx-multi-${from}`, sharedBaseLayer: true });
      const src = await seed(dir, from, idx);
      const oa = join(dir, "out-oci.tar");
      await copy(src, `oci-archive:${oa}:all`);
      assert.deepEqual(await skopeoInspectRaw(`oci-archive:${oa}:all`), idx.manifest.bytes);
      const copied = join(dir, "check");
      assertSkopeoOk(await skopeoCopy(`oci-archive:${oa}:all`, `oci:${copied}:all`, ["--all", "--preserve-digests"]));
      const da = join(dir, "out-docker.tar");
      await copy(src, `docker-archive:${da}:multi:arm64`, { platforms: [parsePlatform("linux/arm64/v8")] });
      const arm = idx.images.find((i) => i.platform.architecture === "arm64")!;
      assert.equal(await configDigestSeenBySkopeo(`docker-archive:${da}:multi:arm64`), arm.config.digest.toString());
    });
  }
});
