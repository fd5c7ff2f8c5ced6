// Client certificates (mTLS), certs.d folders and per-side TLS, against the
// real registry with `http.tls.clientcas`, certificates minted by openssl in
// the test; skopeo (--cert-dir) and curl (--cert) read the same registry as
// independent peers.
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { dray, drayOk } from "../../cli/run.js";
import { buildImage, writeOciLayout } from "../../helpers/fixtures.js";
import { startRegistry, type RegistryHandle } from "../../helpers/registry.js";
import { assertSkopeoOk, skopeo } from "../../helpers/skopeo.js";
import { fifoWith, makeTempDir } from "../../helpers/tmp.js";
import { homeEnv } from "../../helpers/home.js";
import { closeDispatchers } from "../../../src/transport/registry/http/http.js";
import { openRegistrySource } from "../../../src/transport/registry/index.js";
import { resetEndpoints } from "../../../src/transport/registry/http/endpoint.js";
import { parseLocation, type RegistryLocation } from "../../../src/ref/location.js";

describe("client certificates (mTLS) against the real registry", () => {
  let registry: RegistryHandle;
  let other: RegistryHandle;
  let work: string;
  /** certs.d folder with the registry's CA and the accepted client pair. */
  let certDir: string;
  let digest: string;

  before(async () => {
    registry = await startRegistry({ mode: "tls", clientCertificates: true });
    other = await startRegistry({ mode: "tls" });
    work = makeTempDir("dray-mtls-");
    certDir = join(work, "certs.d");
    mkdirSync(certDir);
    copyFileSync(registry.caFile!, join(certDir, "ca.crt"));
    copyFileSync(registry.client!.certFile, join(certDir, "client.cert"));
    copyFileSync(registry.client!.keyFile, join(certDir, "client.key"));
    const layout = join(work, "layout");
    const built = await buildImage({ seed: "mtls" });
    digest = (await writeOciLayout(layout, built, "v1")).toString();
    // skopeo writes the image, with the same certs.d folder: an independent client of the mTLS registry.
    assertSkopeoOk(await skopeo(["copy", `oci:${layout}:v1`, `docker://${registry.host}/team/app:v1`, "--dest-cert-dir", certDir]));
  });
  after(async () => {
    await registry?.stop();
    await other?.stop();
  });

  it("reads with --cert-dir, as skopeo and curl do with the same files", async () => {
    const r = await drayOk(["digest", `docker://${registry.host}/team/app:v1`, "--cert-dir", certDir]);
    assert.equal(r.stdout.trim(), digest);
    const peer = assertSkopeoOk(await skopeo(["inspect", "--raw", `docker://${registry.host}/team/app:v1`], { certDir }));
    assert.ok(peer.stdout.length > 0);
    const curl = execFileSync("curl", [
      "-sS",
      "-H",
      "Accept: application/vnd.oci.image.manifest.v1+json",
      "--cacert",
      registry.caFile!,
      "--cert",
      registry.client!.certFile,
      "--key",
      registry.client!.keyFile,
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      `${registry.url}/v2/team/app/manifests/v1`,
    ]).toString();
    assert.equal(curl, "200");
  });

  it("reads with --client-cert and --client-key beside --ca-file", async () => {
    const r = await drayOk([
      "digest",
      `docker://${registry.host}/team/app:v1`,
      "--ca-file",
      registry.caFile!,
      "--client-cert",
      registry.client!.certFile,
      "--client-key",
      registry.client!.keyFile,
    ]);
    assert.equal(r.stdout.trim(), digest);
  });

  it("reads --client-cert and --client-key from pipes (<(vault read …)): read once, used for every connection", async () => {
    // Was: the check read each pipe, then each new connection read it again and found it empty.
    const r = await dray([
      "copy",
      "-q",
      "--ca-file",
      fifoWith(registry.caFile!, work, "ca.fifo"),
      "--client-cert",
      fifoWith(registry.client!.certFile, work, "cert.fifo"),
      "--client-key",
      fifoWith(registry.client!.keyFile, work, "key.fifo"),
      `docker://${registry.host}/team/app:v1`,
      `oci:${join(work, "piped")}:v1`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), digest);
    const folder = await dray([
      "digest",
      "--client-cert",
      work,
      "--client-key",
      registry.client!.keyFile,
      `docker://${registry.host}/team/app:v1`,
    ]);
    assert.equal(folder.code, 2, folder.stderr);
    assert.equal(folder.stderr, `dray: --client-cert ${work} is a directory, not a file\n`);
  });

  it("finds the host's folder under ~/.config/containers/certs.d without a flag", async () => {
    const home = makeTempDir("dray-mtls-home-");
    const hostDir = join(home, ".config", "containers", "certs.d", registry.host);
    mkdirSync(hostDir, { recursive: true });
    for (const f of ["ca.crt", "client.cert", "client.key"]) copyFileSync(join(certDir, f), join(hostDir, f));
    const r = await drayOk(["digest", `docker://${registry.host}/team/app:v1`], { env: { HOME: home } });
    assert.equal(r.stdout.trim(), digest);
  });

  it("says the registry asked for a client certificate when none was given", async () => {
    const r = await dray(["digest", `docker://${registry.host}/team/app:v1`, "--ca-file", registry.caFile!]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /asked for a client certificate and none was given/);
    assert.doesNotMatch(r.stderr, /ERR_SSL|alert/);
  });

  it("says the certificate was refused when the registry does not trust it", async () => {
    const r = await dray([
      "digest",
      `docker://${registry.host}/team/app:v1`,
      "--ca-file",
      registry.caFile!,
      "--client-cert",
      registry.client!.strangerCertFile,
      "--client-key",
      registry.client!.strangerKeyFile,
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /refused the client certificate .*stranger\.cert/);
  });

  it("refuses a key that is not the certificate's before any request (exit 2, naming both files)", async () => {
    const r = await dray([
      "digest",
      `docker://${registry.host}/team/app:v1`,
      "--client-cert",
      registry.client!.certFile,
      "--client-key",
      registry.client!.strangerKeyFile,
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /stranger\.key does not match the certificate .*client\.cert/);
  });

  it("refuses an expired client certificate before any request (exit 2, naming the file and the date)", async () => {
    // Signed by the client CA the registry trusts, with the accepted key: only its dates are wrong.
    const dir = makeTempDir("dray-mtls-expired-");
    const caDir = dirname(registry.client!.clientCaFile);
    const csr = join(dir, "expired.csr");
    execFileSync("openssl", ["req", "-new", "-key", registry.client!.keyFile, "-subj", "/CN=expired", "-out", csr]);
    execFileSync("openssl", [
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      registry.client!.clientCaFile,
      "-CAkey",
      join(caDir, "client-ca.key"),
      "-CAcreateserial",
      "-days",
      "-1",
      "-out",
      join(dir, "expired.cert"),
    ]);
    const r = await dray([
      "digest",
      `docker://${registry.host}/team/app:v1`,
      "--ca-file",
      registry.caFile!,
      "--client-cert",
      join(dir, "expired.cert"),
      "--client-key",
      registry.client!.keyFile,
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--client-cert .*expired\.cert expired on \d{4}-\d\d-\d\d/);
  });

  it("login takes --cert-dir, and --client-cert with --client-key, as skopeo login takes --cert-dir", async () => {
    // The error for a missing certificate names these flags: login must accept them.
    const env = homeEnv(makeTempDir("dray-mtls-login-home-"));
    const base = ["login", registry.host, "-u", "alice", "--password-stdin"];
    let r = await dray([...base, "--ca-file", registry.caFile!], { env, input: "secret\n" });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /asked for a client certificate and none was given/);
    // The certificate is the registry's only check: past it, /v2/ answers 200 and no password is stored (issue 28 item 12).
    r = await drayOk([...base, "--cert-dir", certDir], { env, input: "secret\n" });
    assert.match(r.stderr, /asks no credentials \(GET \/v2\/ answered 200 without them\): nothing stored/);
    const pair = ["--client-cert", registry.client!.certFile, "--client-key", registry.client!.keyFile];
    r = await drayOk([...base, "--ca-file", registry.caFile!, ...pair], { env, input: "secret\n" });
    assert.match(r.stderr, /asks no credentials/);
  });

  it("refuses a certs.d folder with a certificate and no key, and a --ca-file that holds no certificate", async () => {
    const half = makeTempDir("dray-mtls-half-");
    copyFileSync(registry.client!.certFile, join(half, "client.cert"));
    let r = await dray(["digest", `docker://${registry.host}/team/app:v1`, "--cert-dir", half]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /client certificate client\.cert without its key client\.key/);
    r = await dray(["digest", `docker://${registry.host}/team/app:v1`, "--ca-file", "/etc/passwd"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--ca-file \/etc\/passwd holds no PEM certificate/);
    r = await dray(["digest", `docker://${registry.host}/team/app:v1`, "--ca-file", join(half, "missing.pem")]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /missing\.pem does not exist/);
  });

  it("refuses a certs.d CA file that holds no certificate, or cannot be read, before any request (exit 2, naming it)", async () => {
    const bad = makeTempDir("dray-mtls-badca-");
    copyFileSync(registry.client!.certFile, join(bad, "client.cert"));
    copyFileSync(registry.client!.keyFile, join(bad, "client.key"));
    writeFileSync(join(bad, "ca.crt"), "not a certificate\n");
    let r = await dray(["digest", `docker://${registry.host}/team/app:v1`, "--cert-dir", bad]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--cert-dir .*: .*ca\.crt holds no PEM certificate/);
    rmSync(join(bad, "ca.crt"));
    mkdirSync(join(bad, "ca.crt"));
    r = await dray(["digest", `docker://${registry.host}/team/app:v1`, "--cert-dir", bad]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /ca\.crt is a (folder|directory)/);
    assert.doesNotMatch(r.stderr, /EISDIR/);
  });

  it("copies from the mTLS registry to a registry with another CA, each side with its own flags", async () => {
    const r = await drayOk([
      "copy",
      `docker://${registry.host}/team/app:v1`,
      `docker://${other.host}/mirror/app:v1`,
      "--src-cert-dir",
      certDir,
      "--dest-ca-file",
      other.caFile!,
    ]);
    assert.equal(r.stdout.trim(), digest);
    const peer = assertSkopeoOk(await skopeo(["inspect", "--raw", `docker://${other.host}/mirror/app:v1`], { certDir: other.certDir! }));
    assert.ok(peer.stdout.includes("schemaVersion"));
  });

  it("--src-insecure does not weaken TLS toward the destination", async () => {
    const r = await dray([
      "copy",
      `docker://${registry.host}/team/app:v1`,
      `docker://${other.host}/mirror/weak:v1`,
      "--src-cert-dir",
      certDir,
      "--src-insecure",
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /certificate/);
    assert.match(r.stderr, new RegExp(other.host.replace(/[.]/g, "\\.")));
    const weak = await skopeo(["inspect", "--raw", `docker://${other.host}/mirror/weak:v1`], { certDir: other.certDir! });
    assert.notEqual(weak.code, 0, "nothing reached the destination");
  });

  it("reads a rotated client certificate on the next new connection", async () => {
    const dir = makeTempDir("dray-mtls-rotate-");
    const cert = join(dir, "c.cert");
    const key = join(dir, "c.key");
    copyFileSync(registry.client!.strangerCertFile, cert);
    copyFileSync(registry.client!.strangerKeyFile, key);
    const loc = parseLocation(`docker://${registry.host}/team/app:v1`) as RegistryLocation;
    const opts = { caFile: registry.caFile!, clientCert: cert, clientKey: key, retries: 0 };
    try {
      const first = await openRegistrySource(loc, opts);
      await assert.rejects(first.getManifest(), /refused the client certificate/);
      await first.close();
      // The rotation: new files in place, a later mtime, the same process and pool.
      copyFileSync(registry.client!.certFile, cert);
      copyFileSync(registry.client!.keyFile, key);
      const later = new Date(Date.now() + 5000);
      utimesSync(cert, later, later);
      utimesSync(key, later, later);
      resetEndpoints();
      const second = await openRegistrySource(loc, opts);
      const m = await second.getManifest();
      assert.equal(m.digest.toString(), digest);
      await second.close();
    } finally {
      await closeDispatchers();
      resetEndpoints();
    }
  });
});
