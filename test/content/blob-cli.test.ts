// `dray blob` as a user runs it: the real CLI against the real registry (and a
// fault proxy that corrupts bytes) and against an OCI layout.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { Digest } from "../../src/oci/digest.js";
import { dray, drayOk } from "../cli/run.js";
import { buildImage, buildIndex, pushImage, writeOciLayout, type BuiltIndex } from "../helpers/fixtures.js";
import { startProxy, type FaultProxy } from "../helpers/proxy.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";

describe("dray blob", () => {
  let reg: RegistryHandle;
  let proxy: FaultProxy;
  let index: BuiltIndex;
  let dir: string;

  before(async () => {
    reg = await startRegistry();
    proxy = await startProxy(reg);
    index = await buildIndex({ format: "oci", seed: "blob", layerCount: 2, layerSize: 300 * 1024 });
    await pushImage({ url: reg.url }, "app", "v1", index);
    dir = makeTempDir();
    await writeOciLayout(join(dir, "layout"), index, "v1");
  });

  it("writes a layer of a child image exactly to stdout (registry, found through the index)", async () => {
    const layer = index.images[1]!.layers[0]!;
    const r = await drayOk(["blob", `docker://${reg.host}/app:v1`, layer.digest.toString()]);
    assert.ok(r.stdoutBytes.equals(layer.bytes));
  });

  it("writes config and manifest blobs of a layout into -o FILE", async () => {
    const img = index.images[0]!;
    for (const [digest, bytes] of [
      [img.config.digest, img.config.bytes],
      [img.manifest.digest, img.manifest.bytes],
    ] as const) {
      const out = join(dir, `out-${digest.hex.slice(0, 8)}`);
      const r = await drayOk(["blob", `oci:${join(dir, "layout")}:v1`, digest.toString(), "-o", out]);
      assert.equal(r.stdout, "");
      assert.ok((await readFile(out)).equals(bytes));
    }
  });

  it("a manifest the image's graph does not name (another tag's image) comes from /manifests/ (issue 27, item 11)", async () => {
    const other = await buildImage({ seed: "blob-other" });
    await pushImage({ url: reg.url }, "app", "other", other);
    const r = await dray(["blob", `docker://${reg.host}/app:v1`, other.manifest.digest.toString()]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdoutBytes.equals(other.manifest.bytes));
  });

  it("a blob the registry does not have is exit 3", async () => {
    const r = await dray(["blob", `docker://${reg.host}/app:v1`, Digest.of(Buffer.from("nope")).toString()]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /^dray: /);
  });

  it("corrupted bytes are exit 5 and -o leaves neither the file nor a temporary (old file kept)", async () => {
    const layer = index.images[0]!.layers[1]!;
    const rule = proxy.addRule({
      path: `/blobs/${layer.digest}`,
      action: { kind: "replaceBody", body: (b) => Buffer.concat([b.subarray(0, b.length - 1), Buffer.from([b[b.length - 1]! ^ 1])]) },
    });
    const outDir = join(dir, "corrupt");
    await import("node:fs/promises").then((fs) => fs.mkdir(outDir));
    const out = join(outDir, "layer.tgz");
    await writeFile(out, "old");
    try {
      const r = await dray(["blob", `docker://${proxy.host}/app:v1`, layer.digest.toString(), "-o", out]);
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, /digest mismatch/);
      assert.equal(await readFile(out, "utf8"), "old");
      assert.deepEqual(await readdir(outDir), ["layer.tgz"]);
    } finally {
      rule.remove();
    }
  });

  it("an invalid digest is a usage error (exit 2)", async () => {
    const r = await dray(["blob", `oci:${join(dir, "layout")}:v1`, "sha256:xyz", "-o", join(dir, "never")]);
    assert.equal(r.code, 2);
    assert.ok(!existsSync(join(dir, "never")));
  });
});
