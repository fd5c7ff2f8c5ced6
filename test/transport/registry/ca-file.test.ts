// A --ca-file is read once per run: the CLI's check before any request, the
// registry client's check for each registry it opens (resolveTls), and each
// connection pool's TLS options all take the text read the first time. Each
// test file runs in its own process, so this count starts from nothing.
import assert from "node:assert/strict";
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { resolve } from "node:path";
import { after, before, describe, it, mock } from "node:test";
import { parseLocation, type RegistryLocation } from "../../../src/ref/location.js";
import { caFileProblem } from "../../../src/transport/ca-file.js";
import { closeRegistryConnections, openRegistryDestination, openRegistrySource } from "../../../src/transport/registry/index.js";
import { buildImage, pushImage } from "../../helpers/fixtures.js";
import { requireTool, startRegistry, type RegistryHandle } from "../../helpers/registry.js";
import { isolateCredentials } from "./support.js";

isolateCredentials();
after(() => closeRegistryConnections());

function loc(text: string): RegistryLocation {
  return parseLocation(text) as RegistryLocation;
}

describe("--ca-file", () => {
  let reg: RegistryHandle;
  before(async () => {
    requireTool("docker-registry");
    reg = await startRegistry({ mode: "tls" });
    await pushImage(reg, "ca/app", "v1", await buildImage({ seed: "ca-file" }));
  });
  after(() => reg.stop());

  it("is read once for a check, a source and a destination on one registry, and their connections", async () => {
    const caFile = reg.caFile!;
    const reads: string[] = [];
    const readFileSync = fs.readFileSync;
    // The ES module binding of node:fs follows its CommonJS object once synced: every readFileSync of src/ is counted.
    mock.method(fs, "readFileSync", (...args: Parameters<typeof readFileSync>) => {
      if (typeof args[0] === "string" && resolve(args[0]) === resolve(caFile)) reads.push(args[0]);
      return readFileSync(...args);
    });
    syncBuiltinESMExports();
    try {
      assert.equal(caFileProblem(caFile), undefined); // the CLI's check (cli/options.ts)
      const src = await openRegistrySource(loc(`docker://${reg.host}/ca/app:v1`), { caFile });
      const m = await src.getManifest();
      const dst = await openRegistryDestination(loc(`docker://${reg.host}/ca/copy:v1`), { caFile });
      assert.equal(await dst.currentDigest(), undefined);
      await dst.putManifest(m, { isTop: true }).catch(() => undefined); // its blobs are elsewhere: a refusal, but a request
    } finally {
      mock.restoreAll();
      syncBuiltinESMExports();
    }
    assert.equal(reads.length, 1, `read ${reads.length} times`);
  });
});
