// Push a multi-platform image through the registry transport's library API
// into the real distribution registry, in each of the harness's four modes,
// pull it back byte-identical, and let skopeo read what was pushed.
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { isDrayError } from "../../../src/errors.js";
import { after, before, describe, it } from "node:test";
import { parseLocation, type RegistryLocation } from "../../../src/ref/location.js";
import {
  closeRegistryConnections,
  openRegistryDestination,
  openRegistryReferences,
  openRegistrySource,
  RegistryClient,
} from "../../../src/transport/registry/index.js";
import type { TransportOptions } from "../../../src/transport/types.js";
import { blobsOf, buildIndex, manifestsOf, type BuiltIndex } from "../../helpers/fixtures.js";
import { startRegistry, type RegistryHandle, type RegistryMode } from "../../helpers/registry.js";
import { skopeoInspectRaw, type SkopeoOptions } from "../../helpers/skopeo.js";
import { isolateCredentials, pullAll, pushBuilt } from "./support.js";

isolateCredentials();
after(() => closeRegistryConnections());

function loc(text: string): RegistryLocation {
  const l = parseLocation(text);
  assert.equal(l.transport, "docker");
  return l as RegistryLocation;
}

function optionsFor(reg: RegistryHandle, debug: string[]): TransportOptions {
  const opts: TransportOptions = { debug: (l) => debug.push(l) };
  if (reg.username && reg.password) opts.creds = { username: reg.username, password: reg.password };
  if (reg.caFile) opts.caFile = reg.caFile;
  // The token server listens on another plain-HTTP port of 127.0.0.1: trusted by name, as a user would (issue 26 item 6).
  if (reg.tokenServer) opts.trustRealms = [new URL(reg.tokenServer.url).host];
  return opts;
}

function skopeoOpts(reg: RegistryHandle): SkopeoOptions {
  const o: SkopeoOptions = {};
  if (reg.username && reg.password) o.creds = `${reg.username}:${reg.password}`;
  if (reg.certDir) o.certDir = reg.certDir;
  return o;
}

const MODES: RegistryMode[] = ["plain", "htpasswd", "tls", "token"];

let built: BuiltIndex;
before(async () => {
  // Layers of 1.5 MiB take the streamed PATCH path; configs and manifests the monolithic PUT.
  built = await buildIndex({ seed: "roundtrip", sharedBaseLayer: true, layerSize: 1536 * 1024 });
});

for (const mode of MODES) {
  describe(`registry round trip (${mode})`, () => {
    let reg: RegistryHandle;
    before(async () => {
      reg = await startRegistry({ mode, deleteEnabled: true });
    });

    it("pushes an index through the API, pulls it back byte-identical, and skopeo reads the same bytes", async () => {
      const debug: string[] = [];
      const opts = optionsFor(reg, debug);
      const where = `docker://${reg.host}/rt/${mode}:v1`;
      const dest = await openRegistryDestination(loc(where), opts);
      assert.equal(await dest.currentDigest(), undefined, "nothing tagged yet");
      await pushBuilt(dest, built);
      assert.equal((await dest.currentDigest())?.toString(), built.manifest.digest.toString());

      const src = await openRegistrySource(loc(where), opts);
      const got = await pullAll(src);
      assert.deepEqual(got.top.bytes, built.manifest.bytes);
      assert.equal(got.top.digest.toString(), built.manifest.digest.toString());
      assert.equal(got.top.mediaType, built.manifest.mediaType);
      for (const m of manifestsOf(built)) assert.deepEqual(got.manifests.get(m.digest.toString()), m.bytes, `manifest ${m.digest}`);
      const blobs = blobsOf(built);
      assert.equal(got.blobs.size, blobs.length);
      for (const b of blobs) assert.deepEqual(got.blobs.get(b.digest.toString()), b.bytes, `blob ${b.digest}`);

      const raw = await skopeoInspectRaw(where, skopeoOpts(reg));
      assert.deepEqual(raw, built.manifest.bytes);
      const child = built.images[1]!.manifest;
      const rawChild = await skopeoInspectRaw(`docker://${reg.host}/rt/${mode}@${child.digest}`, skopeoOpts(reg));
      assert.deepEqual(rawChild, child.bytes);

      // --debug lines: one per request, never a credential.
      assert.ok(
        debug.some((l) => /^PUT http.*\/manifests\/v1 -> 201 \(\d+ ms\)$/.test(l)),
        debug.join("\n"),
      );
      const secrets = [reg.password, reg.basicAuth?.slice(6)].filter((s): s is string => s !== undefined);
      for (const l of debug) for (const s of secrets) assert.ok(!l.includes(s), `debug line leaks a secret: ${l}`);
      assert.ok(debug.every((l) => !/authorization|bearer/i.test(l)));
    });

    if (mode === "tls") {
      it("without --ca-file the certificate is refused with a hint (exit 1); --insecure skips verification", async () => {
        const where = loc(`docker://${reg.host}/rt/${mode}:v1`);
        const { resetEndpoints } = await import("../../../src/transport/registry/index.js");
        resetEndpoints();
        await assert.rejects((await openRegistrySource(where, {})).getManifest(), (err: unknown) => {
          assert.ok(isDrayError(err, "E_NETWORK"), String(err));
          assert.match(err.message, /not trusted.*--ca-file/);
          return true;
        });
        const m = await (await openRegistrySource(where, { insecure: true })).getManifest();
        assert.equal(m.digest.toString(), built.manifest.digest.toString());
      });
    }

    it("putBlob asks HEAD first when hasBlob was not asked, and uploads nothing for a blob already there", async () => {
      const debug: string[] = [];
      const dest = await openRegistryDestination(loc(`docker://${reg.host}/rt/${mode}:v1`), optionsFor(reg, debug));
      const b = blobsOf(built)[0]!;
      await dest.putBlob({ mediaType: b.mediaType, digest: b.digest, size: b.size }, Readable.from([b.bytes]));
      assert.deepEqual(
        debug.filter((l) => l.includes("/blobs/")).map((l) => l.split(" ")[0]),
        ["HEAD"],
        debug.join("\n"),
      );
    });

    it("several tags on one store cost one manifest GET and a PUT per tag", async () => {
      const debug: string[] = [];
      const refs = await openRegistryReferences(loc(`docker://${reg.host}/rt/${mode}:v1`), optionsFor(reg, debug));
      for (const t of ["t1", "t2", "t3"]) await refs.addTag(t);
      const manifestCalls = debug.filter((l) => l.includes("/manifests/")).map((l) => l.split(" ")[0]);
      assert.deepEqual(manifestCalls, ["GET", "PUT", "PUT", "PUT"], debug.join("\n"));
      const client = new RegistryClient(reg.host, optionsFor(reg, []));
      for (const t of ["t1", "t2", "t3"])
        assert.equal((await client.headManifest(`rt/${mode}`, t))?.digest.toString(), built.manifest.digest.toString(), t);
      // Deleting by digest drops every tag (v1 too): put v1 back for the tests that follow.
      await client.deleteManifest(`rt/${mode}`, built.manifest.digest);
      await pushBuilt(await openRegistryDestination(loc(`docker://${reg.host}/rt/${mode}:v1`), optionsFor(reg, [])), built);
    });

    it("lists tags, adds a tag without moving blobs, deletes by tag and reports the other tag", async () => {
      const opts = optionsFor(reg, []);
      const refs = await openRegistryReferences(loc(`docker://${reg.host}/rt/${mode}:v1`), opts);
      await refs.addTag("v1-alias");
      assert.deepEqual((await refs.listTags()).sort(), ["v1", "v1-alias"]);
      const result = await refs.deleteReference();
      assert.equal(result.digest.toString(), built.manifest.digest.toString());
      assert.deepEqual(result.alsoRemovedTags, ["v1-alias"]);
      const client = new RegistryClient(reg.host, opts);
      assert.equal(await client.headManifest(`rt/${mode}`, "v1"), undefined);
      assert.equal(await client.headManifest(`rt/${mode}`, "v1-alias"), undefined);
    });
  });
}
