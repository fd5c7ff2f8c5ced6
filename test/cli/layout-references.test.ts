// tag and delete on layouts and archives others wrote: a name two images share
// (containers/image's own fixture) is refused by delete as digest refuses it
// (issue 27, item 3); a docker-archive's tag reaches its OCI view (index.json,
// what Docker 25+ and skopeo's oci-archive read), and delete says whether an
// image went or only a name (item 12).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { buildImage, writeOciLayout } from "../helpers/fixtures.js";
import { assertSkopeoOk, skopeo } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { copyPeerFixture } from "../helpers/peers.js";
import { dray, drayOk } from "./run.js";

const TWO_NAMED_ALIKE = "containers-image/oci/layout/fixtures/delete_image_two_identical_references";
const FIRST = "sha256:49d1584496c6e196f512c4a9f52b17b187642269d84c044538523c5b69a660b3";
const SECOND = "sha256:ecfa463536cb5472e238aadc4df81d4785d5d6373027c488a2db8a6e76fe88ed";

describe("delete of a ref.name two index entries carry (containers/image delete_image_two_identical_references)", () => {
  it("oci: refused as digest refuses it (exit 5, both digests named), nothing removed; by digest, exactly that image goes", async () => {
    const dir = await copyPeerFixture(TWO_NAMED_ALIKE);
    const index = await readFile(join(dir, "index.json"));
    const digest = await dray(["digest", `oci:${dir}:1.0.0`]);
    assert.equal(digest.code, 5, digest.stderr);
    const del = await dray(["delete", `oci:${dir}:1.0.0`]);
    assert.equal(del.code, 5, del.stderr);
    assert.equal(del.stderr, digest.stderr, "the same refusal as digest");
    assert.match(
      del.stderr,
      new RegExp(`names 2 different images "1\\.0\\.0"; name one by digest: oci:\\S+:${FIRST}, oci:\\S+:${SECOND}\\n$`),
    );
    assert.equal(del.stdout, "");
    assert.ok((await readFile(join(dir, "index.json"))).equals(index), "index.json untouched");
    assert.equal((await readdir(join(dir, "blobs", "sha256"))).length, 6, "every blob kept");
    // By digest: that entry and the blobs only it used, as containers/image's own test expects (3 blobs left).
    const one = await drayOk(["delete", `oci:${dir}:${FIRST}`]);
    assert.equal(one.stdout, `${FIRST}\n`);
    assert.deepEqual((await readdir(join(dir, "blobs", "sha256"))).sort(), [
      "ce229a4eb5797ecd3a3a1846613b6b49811f79e38b5b0ce666268ba4b6c68e41",
      "ecfa463536cb5472e238aadc4df81d4785d5d6373027c488a2db8a6e76fe88ed",
      "fa00bb4e2adbc73a5da1fd54d2a840020592530a8d4e8de9888b9e9a533419d8",
    ]);
    assert.equal((await drayOk(["digest", `oci:${dir}:1.0.0`])).stdout, `${SECOND}\n`, "the name now names one image");
  });

  it("oci-archive of the same layout: refused too, the archive unchanged", async () => {
    const dir = await copyPeerFixture(TWO_NAMED_ALIKE);
    const file = join(dir, "..", "two.tar");
    execFileSync("tar", ["-cf", file, "-C", dir, "oci-layout", "index.json", "blobs"]);
    const before = await readFile(file);
    const del = await dray(["delete", `oci-archive:${file}:1.0.0`]);
    assert.equal(del.code, 5, del.stderr);
    assert.match(del.stderr, /names 2 different images "1\.0\.0"; name one by digest: oci-archive:/);
    assert.ok((await readFile(file)).equals(before));
  });
});

describe("tag and delete on a docker-archive keep its OCI view (index.json) in step", () => {
  /** The names index.json gives, as `io.containerd.image.name` = ref.name. */
  function indexNames(file: string): string[] {
    const doc = JSON.parse(execFileSync("tar", ["-xOf", file, "index.json"]).toString()) as {
      manifests: Array<{ annotations?: Record<string, string> }>;
    };
    return doc.manifests
      .map((m) => `${m.annotations?.["io.containerd.image.name"] ?? "-"}=${m.annotations?.["org.opencontainers.image.ref.name"] ?? "-"}`)
      .sort();
  }

  it("tag adds the name to index.json too; skopeo reads it through oci-archive:; delete of one of two names untags", async () => {
    const dir = makeTempDir("dray-darchive-tag-");
    const image = await buildImage({ seed: "darchive-tag" });
    await writeOciLayout(join(dir, "layout"), image, "v1");
    const file = join(dir, "app.tar");
    await drayOk(["copy", `oci:${join(dir, "layout")}:v1`, `docker-archive:${file}:example.com/app:v1`]);
    await drayOk(["tag", `docker-archive:${file}:example.com/app:v1`, "v2"]);
    assert.deepEqual(indexNames(file), ["example.com/app:v1=v1", "example.com/app:v2=v2"]);
    const raw = assertSkopeoOk(await skopeo(["inspect", "--raw", `oci-archive:${file}:v2`]));
    assert.equal(raw.stdout, image.manifest.bytes.toString());

    const untag = await drayOk(["delete", `docker-archive:${file}:example.com/app:v1`, "--format", "json"]);
    assert.match(
      untag.stderr,
      /^Untagged docker-archive:\S+:example\.com\/app:v1: image sha256:[0-9a-f]{64} stays under its other names\n$/,
    );
    assert.equal((JSON.parse(untag.stdout) as { ImageKept: boolean }).ImageKept, true);
    assert.deepEqual(indexNames(file), ["example.com/app:v2=v2"]);
    const gone = await drayOk(["delete", `docker-archive:${file}:example.com/app:v2`]);
    assert.match(gone.stderr, /^Deleted sha256:/);
  });

  it("a layout's ref.name whose image keeps another name is untagged, not deleted", async () => {
    const dir = makeTempDir("dray-layout-untag-");
    const image = await buildImage({ seed: "layout-untag" });
    await writeOciLayout(join(dir, "l"), image, "a");
    await drayOk(["tag", `oci:${join(dir, "l")}:a`, "b"]);
    const r = await drayOk(["delete", `oci:${join(dir, "l")}:a`]);
    assert.match(r.stderr, /^Untagged oci:\S+:a: image sha256:\S+ stays under its other names\n$/);
    assert.equal((await drayOk(["digest", `oci:${join(dir, "l")}:b`])).stdout, `${image.manifest.digest}\n`);
  });
});
