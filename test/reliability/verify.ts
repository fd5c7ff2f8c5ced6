// Independent checks of what a copy left behind, with skopeo as the reader:
// a registry tag or layout/archive that holds exactly the built image (every
// manifest byte-identical, every blob readable with the right digest).
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Digest } from "../../src/oci/digest.js";
import { manifestsOf, type Built } from "../helpers/fixtures.js";
import { assertSkopeoOk, skopeoCopy, skopeoInspectRaw } from "../helpers/skopeo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { assertBlobsIntact } from "./support.js";

/**
 * `loc` (docker://HOST/REPO:TAG, oci:DIR:TAG, oci-archive:FILE:TAG) holds
 * `built`: skopeo reads the top manifest byte for byte, and `skopeo copy
 * --all` of it into a fresh layout (which verifies every blob's digest)
 * succeeds and holds every manifest of the build. Returns a summary for the table.
 */
export async function assertHolds(loc: string, built: Built, creds?: string): Promise<string> {
  const opts = creds === undefined ? {} : { creds };
  const raw = await skopeoInspectRaw(loc, opts);
  assert.equal(Digest.of(raw).toString(), built.manifest.digest.toString(), `top manifest of ${loc}`);
  assert.deepEqual(raw, built.manifest.bytes);
  const out = join(makeTempDir("dray-rel-verify-"), "copy");
  assertSkopeoOk(await skopeoCopy(loc, `oci:${out}:x`, ["--all", "--preserve-digests"], creds === undefined ? {} : { srcCreds: creds }));
  const blobs = await assertBlobsIntact(out);
  for (const m of manifestsOf(built))
    assert.deepEqual(await readFile(join(out, m.digest.blobPath)), m.bytes, `manifest ${m.digest} read back by skopeo`);
  const manifests = manifestsOf(built).length;
  return `skopeo reads ${manifests} manifest${manifests === 1 ? "" : "s"} byte-identical and ${blobs} blobs with matching digests`;
}
