// Upload Locations as registries behind proxies and storage services hand
// them out, emulated in front of the real registry (htpasswd, so every request
// to it needs the credential) reached as https://registry.example.test through
// the named-hosts forward proxy; uploads.storage.test is a second fault proxy
// in front of the same registry, standing for a storage service's pre-signed
// upload URL.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { makeCertificates } from "../helpers/certs.js";
import { buildImage, writeOciLayout, type BuiltImage } from "../helpers/fixtures.js";
import { startNamedHosts, type NamedHostsProxy } from "../helpers/named-hosts.js";
import { startProxy, type ActiveRule, type FaultProxy } from "../helpers/proxy.js";
import { startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";
import { fetchManifest } from "../sync/artifacts.js";
import { dray } from "../cli/run.js";

const REGISTRY = "registry.example.test";
const STORAGE = "uploads.storage.test";
const UPLOAD_POST = /^\/v2\/[^?]+\/blobs\/uploads\/(\?|$)/;

describe("vendor upload locations", () => {
  let registry: RegistryHandle;
  let front: FaultProxy;
  let storage: FaultProxy;
  let hosts: NamedHostsProxy;
  let caFile: string;
  let image: BuiltImage;
  let auth: string[];
  let layout: string;

  before(async () => {
    const dir = makeTempDir("dray-vendor-uploads-");
    const certs = makeCertificates(join(dir, "certs"), [REGISTRY, STORAGE]);
    caFile = certs.caFile;
    registry = await startRegistry({ mode: "htpasswd" });
    front = await startProxy(registry);
    storage = await startProxy(registry);
    hosts = await startNamedHosts({
      names: { [REGISTRY]: front.port, [STORAGE]: storage.port },
      certPem: readFileSync(certs.serverCertFile, "utf8"),
      keyPem: readFileSync(certs.serverKeyFile, "utf8"),
    });
    image = await buildImage({ seed: "vendor-uploads" });
    // The source is a layout, so every blob is uploaded (a copy within the registry would mount them).
    layout = join(dir, "layout");
    await writeOciLayout(layout, image, "v1");
    auth = ["--creds", `${registry.username}:${registry.password}`, "--ca-file", caFile];
  });
  after(() => hosts.stop());

  const loc = (path: string): string => `docker://${REGISTRY}/${path}`;
  /** The registry's upload Locations handed out on `origin` (scheme and host replaced) until the rule is removed. */
  const locationsOn = (origin: string): ActiveRule =>
    front.addRule({
      method: "POST",
      path: UPLOAD_POST,
      action: {
        kind: "replaceHeader",
        name: "Location",
        value: (location) => location && `${origin}${new URL(location).pathname}${new URL(location).search}`,
      },
    });

  it("a TLS-terminating proxy that downgrades the upload Location to http:// on the same host (distribution/distribution#479): sent over https", async () => {
    const downgrade = locationsOn(`http://${REGISTRY}`);
    const from = hosts.log.length;
    try {
      const r = await dray(["copy", `oci:${layout}:v1`, loc("lib/downgraded:v1"), ...auth], { env: hosts.env });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(downgrade.hits >= 1, "the registry handed out http:// Locations");
      const sent = hosts.log.slice(from);
      assert.deepEqual(
        sent.filter((l) => l.startsWith("PUT http://") || l.startsWith("PATCH http://")),
        [],
        "nothing went over plain http",
      );
      assert.ok(
        sent.some((l) => l.startsWith(`PUT https://${REGISTRY}/v2/lib/downgraded/blobs/uploads/`)),
        sent.join("\n"),
      );
      assert.deepEqual(await fetchManifest(registry, "lib/downgraded", "v1"), image.manifest.bytes);
    } finally {
      downgrade.remove();
    }
  });

  it("S3/CDN-style Location on another host (Artifactory, ECR behind storage): followed without the registry's credential", async () => {
    const toStorage = locationsOn(`https://${STORAGE}`);
    // The storage service accepts its pre-signed URL: the emulation adds what the registry behind it needs.
    const presigned = storage.addRule({ action: { kind: "requestHeaders", headers: { authorization: registry.basicAuth! } } });
    const from = storage.log.length;
    try {
      const r = await dray(["copy", `oci:${layout}:v1`, loc("lib/stored:v1"), ...auth], { env: hosts.env });
      assert.equal(r.code, 0, r.stderr);
      const uploads = storage.log.slice(from);
      assert.ok(uploads.length >= 1, "the uploads went to the storage host");
      assert.deepEqual(
        uploads.filter((e) => e.headers.authorization !== undefined),
        [],
        "no credential was sent to the storage host",
      );
      assert.deepEqual(await fetchManifest(registry, "lib/stored", "v1"), image.manifest.bytes);
    } finally {
      toStorage.remove();
      presigned.remove();
    }
  });

  it("a 401 from the upload Location's other host: one line naming that host, exit 4", async () => {
    const toStorage = locationsOn(`https://${STORAGE}`);
    try {
      const r = await dray(["copy", `oci:${layout}:v1`, loc("lib/refused:v1"), ...auth, "--retries", "0", "-q"], { env: hosts.env });
      assert.equal(r.code, 4, r.stderr);
      assert.equal(r.stderr.split("\n").filter(Boolean).length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^dray: .*${STORAGE.replace(/\./g, "\\.")}.*HTTP 401`));
      assert.doesNotMatch(r.stderr, /no credentials found/);
    } finally {
      toStorage.remove();
    }
  });
});
