// Listing, referrers and deletion against the real registry: Link
// pagination of tags and the catalog, the referrers tag-schema fall-back
// (distribution 2.8 has no referrers API), and a DELETE the registry does
// not allow.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { exitCodeFor, isDrayError } from "../../../src/errors.js";
import { Digest } from "../../../src/oci/digest.js";
import { MediaType } from "../../../src/oci/mediatype.js";
import { parseLocation, type RegistryLocation } from "../../../src/ref/location.js";
import {
  closeRegistryConnections,
  listCatalog,
  openRegistryReferences,
  RegistryClient,
  referrersTag,
} from "../../../src/transport/registry/index.js";
import { RepositoryFactory } from "../../../src/transport/repository.js";
import { buildImage, pushImage, type BuiltImage } from "../../helpers/fixtures.js";
import { TestRegistryClient } from "../../helpers/http.js";
import { startRegistry, type RegistryHandle } from "../../helpers/registry.js";
import { isolateCredentials } from "./support.js";

isolateCredentials();
after(() => closeRegistryConnections());

function loc(text: string): RegistryLocation {
  return parseLocation(text) as RegistryLocation;
}

describe("listing and referrers (plain registry)", () => {
  let reg: RegistryHandle;
  let image: BuiltImage;
  const debug: string[] = [];

  before(async () => {
    reg = await startRegistry({ mode: "plain" });
    image = await buildImage({ seed: "listing" });
    for (const repo of ["a/one", "a/two", "b/three", "c/four", "d/five"]) await pushImage(reg, repo, "v1", image);
    for (const tag of ["t1", "t2", "t3", "t4", "t5"]) await pushImage(reg, "a/one", tag, image);
  });

  it("follows Link pagination through the catalog (n=2)", async () => {
    const client = new RegistryClient(reg.host, { debug: (l) => debug.push(l) });
    debug.length = 0;
    assert.deepEqual(await client.catalog(2), ["a/one", "a/two", "b/three", "c/four", "d/five"]);
    assert.equal(debug.filter((l) => l.startsWith("GET") && l.includes("/_catalog")).length, 3, debug.join("\n"));
    assert.deepEqual(await listCatalog(reg.host, {}), ["a/one", "a/two", "b/three", "c/four", "d/five"]);
  });

  it("lists every tag (distribution 2.8 ignores n on tags/list and sends one page; the Link code path is the catalog's)", async () => {
    const client = new RegistryClient(reg.host, {});
    assert.deepEqual((await client.listTags("a/one", 2)).sort(), ["t1", "t2", "t3", "t4", "t5", "v1"]);
    const refs = await openRegistryReferences(loc(`docker://${reg.host}/a/one:v1`), {});
    assert.deepEqual((await refs.listTags()).sort(), ["t1", "t2", "t3", "t4", "t5", "v1"]);
  });

  it("tags of a missing repository: not found (exit 3)", async () => {
    const refs = await openRegistryReferences(loc(`docker://${reg.host}/no/such:v1`), {});
    await assert.rejects(refs.listTags(), (err: unknown) => isDrayError(err, "E_NOT_FOUND") && exitCodeFor(err) === 3);
  });

  it("finds referrers through the tag schema when the registry has no referrers API", async () => {
    const subject = image.manifest.digest;
    const empty = { mediaType: MediaType.OciEmpty, digest: Digest.of("{}").toString(), size: 2 };
    const artifact = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        artifactType: "application/vnd.example.sbom",
        config: empty,
        layers: [empty],
        subject: { mediaType: image.manifest.mediaType, digest: subject.toString(), size: image.manifest.bytes.length },
      }),
    );
    const artifactDigest = Digest.of(artifact);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [
          {
            mediaType: MediaType.OciManifest,
            digest: artifactDigest.toString(),
            size: artifact.length,
            artifactType: "application/vnd.example.sbom",
          },
        ],
      }),
    );
    const seed = new TestRegistryClient(reg);
    try {
      await seed.pushBlob("a/one", empty.digest, Buffer.from("{}"));
      await seed.putManifest("a/one", artifactDigest.toString(), MediaType.OciManifest, artifact);
      await seed.putManifest("a/one", referrersTag(subject), MediaType.OciIndex, index);
    } finally {
      await seed.close();
    }
    const repositories = new RepositoryFactory();
    const found = await (await repositories.open(loc(`docker://${reg.host}/a/one`))).referrers(subject);
    assert.deepEqual(
      found.referrers.map((r) => [r.descriptor.digest.toString(), r.foundBy, r.tag, r.descriptor.artifactType]),
      [[artifactDigest.toString(), "tag-schema", referrersTag(subject), "application/vnd.example.sbom"]],
    );
    assert.deepEqual(found.index?.manifest?.bytes, index);
    assert.deepEqual((await (await repositories.open(loc(`docker://${reg.host}/a/two`))).referrers(subject)).referrers, []);
  });

  it("deleting where the registry forbids it: a clear unsupported error (exit 1)", async () => {
    const refs = await openRegistryReferences(loc(`docker://${reg.host}/a/two:v1`), {});
    await assert.rejects(refs.deleteReference(), (err: unknown) => {
      assert.ok(isDrayError(err, "E_UNSUPPORTED"), String(err));
      assert.match(err.message, /does not allow deleting/);
      assert.equal(exitCodeFor(err), 1);
      return true;
    });
  });

  it("deleting a missing tag: not found (exit 3)", async () => {
    const refs = await openRegistryReferences(loc(`docker://${reg.host}/a/two:nope`), {});
    await assert.rejects(refs.deleteReference(), (err: unknown) => isDrayError(err, "E_NOT_FOUND") && exitCodeFor(err) === 3);
  });
});
