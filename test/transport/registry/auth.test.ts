// Authentication of the registry transport against the real registry: the
// token mode's own token server (anonymous pull, refused passwords,
// insufficient_scope, refresh tokens, mounts with two scopes, a realm on
// another host) and htpasswd Basic auth.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { exitCodeFor, isDrayError } from "../../../src/errors.js";
import { parseLocation, type RegistryLocation } from "../../../src/ref/location.js";
import {
  closeRegistryConnections,
  openRegistryDestination,
  openRegistrySource,
  RegistryClient,
  verifyCredentials,
  type RegistryClientOptions,
} from "../../../src/transport/registry/index.js";
import { buildImage, buildIndex, pushImage, type BuiltImage } from "../../helpers/fixtures.js";
import { startRegistry, type RegistryHandle } from "../../helpers/registry.js";
import { descOf, isolateCredentials, pullAll, pushBuilt } from "./support.js";

const home = isolateCredentials();
after(() => closeRegistryConnections());

function loc(text: string): RegistryLocation {
  return parseLocation(text) as RegistryLocation;
}

function authFailure(code: string, message?: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(isDrayError(err), String(err));
    assert.equal(err.code, code, err.message);
    assert.equal(exitCodeFor(err), 4);
    if (message) assert.match(err.message, message);
    return true;
  };
}

function writeDockerConfig(doc: Record<string, unknown>): void {
  writeFileSync(join(home, ".docker", "config.json"), JSON.stringify(doc));
}

describe("token auth (distribution token mode)", () => {
  let reg: RegistryHandle;
  let image: BuiltImage;
  let creds: { username: string; password: string };
  /** The token server is on another port of 127.0.0.1 over plain HTTP: a credential goes there only when trusted. */
  let trusted: { trustRealms: string[] };

  before(async () => {
    reg = await startRegistry({ mode: "token", token: { anonymousPull: true } });
    creds = { username: reg.username!, password: reg.password! };
    trusted = { trustRealms: [new URL(reg.tokenServer!.url).host] };
    image = await buildImage({ seed: "auth", layerCount: 2 });
    await pushImage(reg, "pub/img", "v1", image);
  });

  it("pulls anonymously when the token server grants pull without credentials", async () => {
    const src = await openRegistrySource(loc(`docker://${reg.host}/pub/img:v1`), {});
    assert.deepEqual((await src.getManifest()).bytes, image.manifest.bytes);
    const last = reg.tokenServer!.log.at(-1)!;
    assert.equal(last.username, undefined);
    assert.deepEqual(last.scopes, ["repository:pub/img:pull"]);
  });

  it("refuses a push without credentials with exit 4 and says how to log in", async () => {
    const dest = await openRegistryDestination(loc(`docker://${reg.host}/pub/img:v2`), {});
    await assert.rejects(
      dest.putManifest(image.manifest, { isTop: true }),
      authFailure("E_AUTH_FAILED", /no credentials found.*dray login/),
    );
  });

  it("a wrong password is refused by the token server: exit 4, naming where the credential came from", async () => {
    const src = await openRegistrySource(loc(`docker://${reg.host}/pub/img:v1`), {
      creds: { username: creds.username, password: "wrong" },
      ...trusted,
    });
    await assert.rejects(src.getManifest(), authFailure("E_AUTH_FAILED", /refused the credentials from --creds/));
    const wrong = { username: creds.username, password: "wrong" };
    await assert.rejects(
      verifyCredentials(reg.host, wrong, trusted),
      authFailure("E_AUTH_FAILED", /refused the credentials from dray login for /),
    );
    // The caller names the credential; never --creds, never the secret, one line.
    await assert.rejects(verifyCredentials(reg.host, wrong, trusted, "the given credential"), (err: unknown) => {
      assert.ok(authFailure("E_AUTH_FAILED", /refused the credentials from the given credential for /)(err));
      const message = (err as Error).message;
      assert.ok(!message.includes("--creds") && !message.includes("wrong") && !message.includes("\n"), message);
      return true;
    });
    await verifyCredentials(reg.host, creds, trusted);
  });

  it("one token serves a whole push and the pull after it (cached per scope, push covers pull)", async () => {
    const before = reg.tokenServer!.requests;
    const built = await buildIndex({ seed: "auth-cache", platforms: ["linux/amd64", "linux/arm64"] });
    const where = loc(`docker://${reg.host}/cache/img:v1`);
    await pushBuilt(await openRegistryDestination(where, { creds, ...trusted }), built);
    await pullAll(await openRegistrySource(where, { creds, ...trusted }));
    const made = reg.tokenServer!.log.slice(before);
    assert.equal(made.length, 1, JSON.stringify(made));
    assert.deepEqual(made[0]!.scopes, ["repository:cache/img:pull,push"]);
  });

  it("insufficient_scope on a read-only repository: one re-authentication, then exit 4", async () => {
    reg.tokenServer!.options.readOnlyRepos = ["ro/img"];
    try {
      const before = reg.tokenServer!.requests;
      const dest = await openRegistryDestination(loc(`docker://${reg.host}/ro/img:v1`), { creds, ...trusted });
      await assert.rejects(dest.putManifest(image.manifest, { isTop: true }), authFailure("E_AUTH_FAILED"));
      const made = reg.tokenServer!.log.slice(before);
      assert.equal(made.length, 2, "the first token, then exactly one more after insufficient_scope");
      assert.ok(made.every((r) => r.granted.join() === "repository:ro/img:pull"));
    } finally {
      reg.tokenServer!.options.readOnlyRepos = [];
    }
  });

  it("mounts a blob across repositories with push,pull on the target and pull on the source in one token", async () => {
    const layer = descOf(image.layers[0]!);
    const dest = await openRegistryDestination(loc(`docker://${reg.host}/mnt/target:v1`), { creds, ...trusted });
    const before = reg.tokenServer!.requests;
    assert.equal(await dest.mountBlob!(layer, loc(`docker://${reg.host}/pub/img:v1`)), true);
    const mountToken = reg.tokenServer!.log.slice(before).find((r) => r.scopes.length === 2);
    assert.ok(mountToken, JSON.stringify(reg.tokenServer!.log.slice(before)));
    assert.deepEqual([...mountToken.scopes].sort(), ["repository:mnt/target:pull,push", "repository:pub/img:pull"]);
    assert.equal(
      await (await openRegistryDestination(loc(`docker://${reg.host}/mnt/target:v1`), { creds, ...trusted })).hasBlob(layer),
      true,
    );
    // Another registry is never asked to mount.
    assert.equal(await dest.mountBlob!(layer, loc(`docker://127.0.0.2:1/pub/img:v1`)), false);
  });

  it("a mount the registry declines (202) falls back to an upload on the session it opened", async () => {
    const image2 = await buildImage({ seed: "auth-mount-miss" });
    const layer = descOf(image2.layers[0]!);
    const dest = await openRegistryDestination(loc(`docker://${reg.host}/mnt/other:v1`), { creds, ...trusted });
    assert.equal(await dest.mountBlob!(layer, loc(`docker://${reg.host}/pub/img:v1`)), false);
    const { Readable } = await import("node:stream");
    await dest.putBlob(layer, Readable.from([image2.layers[0]!.bytes]));
    assert.equal(
      await (await openRegistryDestination(loc(`docker://${reg.host}/mnt/other:v1`), { creds, ...trusted })).hasBlob(layer),
      true,
    );
  });

  it("an identitytoken in docker config.json is traded with the refresh_token grant (POST)", async () => {
    const ts = reg.tokenServer!;
    const res = await fetch(`${ts.realm}?service=${ts.service}&offline_token=true`, {
      headers: { authorization: `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}` },
    });
    const refresh = ((await res.json()) as { refresh_token: string }).refresh_token;
    assert.ok(refresh);
    writeDockerConfig({ auths: { [reg.host]: { identitytoken: refresh } } });
    try {
      const before = ts.requests;
      const dest = await openRegistryDestination(loc(`docker://${reg.host}/idtok/img:v1`), trusted);
      await pushBuilt(dest, image);
      const made = ts.log.slice(before);
      assert.equal(made[0]?.method, "POST");
      assert.equal(made[0]?.grantType, "refresh_token");
      assert.equal(made[0]?.clientId, "dray");
      assert.deepEqual(made[0]?.granted, ["repository:idtok/img:pull,push"]);
    } finally {
      writeDockerConfig({});
    }
  });

  it("a token realm on another host does not get --creds (anonymous token, a notice); a credential stored for both hosts is sent", async () => {
    // The registry reached as localhost:PORT names its realm on 127.0.0.1: another host.
    const host = `localhost:${reg.port}`;
    const notices: string[] = [];
    const opts: RegistryClientOptions = { creds, notice: (m) => notices.push(m) };
    const before = reg.tokenServer!.requests;
    const dest = await openRegistryDestination(loc(`docker://${host}/realm/img:v1`), opts);
    await assert.rejects(dest.putManifest(image.manifest, { isTop: true }), authFailure("E_AUTH_FAILED"));
    assert.ok(
      reg.tokenServer!.log.slice(before).every((r) => r.username === undefined),
      "no credential reached the realm",
    );
    assert.ok(
      notices.some((n) => /unrelated site.*--trust-realm 127\.0\.0\.1:/.test(n)),
      notices.join("\n"),
    );

    const auth = Buffer.from(`${creds.username}:${creds.password}`).toString("base64");
    const realmHost = new URL(reg.tokenServer!.realm).host;
    writeDockerConfig({ auths: { [host]: { auth }, [realmHost]: { auth } } });
    try {
      const before2 = reg.tokenServer!.requests;
      await pushBuilt(await openRegistryDestination(loc(`docker://${host}/realm/img:v1`), {}), image);
      assert.ok(reg.tokenServer!.log.slice(before2).some((r) => r.username === creds.username));
    } finally {
      writeDockerConfig({});
    }
  });
});

describe("token expiry", () => {
  it("a token is reused until shortly before expires_in, then a new one is fetched", async () => {
    const reg = await startRegistry({ mode: "token", token: { expiresIn: 1 } });
    const image = await buildImage({ seed: "expiry" });
    await pushImage(reg, "exp/img", "v1", image);
    const creds = { username: reg.username!, password: reg.password! };
    const trusted = { trustRealms: [new URL(reg.tokenServer!.url).host] };
    const src = await openRegistrySource(loc(`docker://${reg.host}/exp/img:v1`), { creds, ...trusted });
    const before = reg.tokenServer!.requests;
    await src.getManifest();
    await src.getManifest();
    assert.equal(reg.tokenServer!.requests - before, 1, "cached while valid");
    await new Promise((r) => setTimeout(r, 1100));
    await src.getManifest();
    assert.equal(reg.tokenServer!.requests - before, 2, "fetched again after expiry");
  });
});

describe("basic auth (htpasswd mode)", () => {
  let reg: RegistryHandle;
  let image: BuiltImage;

  before(async () => {
    reg = await startRegistry({ mode: "htpasswd" });
    image = await buildImage({ seed: "basic" });
    await pushImage(reg, "basic/img", "v1", image);
  });

  it("no credential: exit 4 with a hint; the right one works; a wrong one: exit 4", async () => {
    const where = loc(`docker://${reg.host}/basic/img:v1`);
    await assert.rejects((await openRegistrySource(where, {})).getManifest(), authFailure("E_AUTH_FAILED", /no credentials found/));
    const good = { username: reg.username!, password: reg.password! };
    assert.deepEqual((await (await openRegistrySource(where, { creds: good })).getManifest()).bytes, image.manifest.bytes);
    await assert.rejects(
      (await openRegistrySource(where, { creds: { ...good, password: "nope" } })).getManifest(),
      authFailure("E_AUTH_FAILED"),
    );
    await verifyCredentials(reg.host, good, {});
    await assert.rejects(
      verifyCredentials(reg.host, { ...good, password: "nope" }, {}),
      authFailure("E_AUTH_FAILED", /refused the credentials from dray login$/),
    );
  });

  it("a refused credential from config.json is named by that file, not --creds", async () => {
    const configPath = join(home, ".docker", "config.json");
    writeDockerConfig({ auths: { [reg.host]: { auth: Buffer.from(`${reg.username}:not-it`).toString("base64") } } });
    try {
      const escaped = configPath.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      await assert.rejects(
        new RegistryClient(reg.host, {}).checkLogin(),
        authFailure("E_AUTH_FAILED", new RegExp(`refused the credentials from ${escaped}$`)),
      );
    } finally {
      writeDockerConfig({});
    }
  });

  it("HEADs a manifest through the client (digest, media type, size)", async () => {
    const client = new RegistryClient(reg.host, { creds: { username: reg.username!, password: reg.password! } });
    const head = await client.headManifest("basic/img", "v1");
    assert.equal(head?.digest.toString(), image.manifest.digest.toString());
    assert.equal(head?.mediaType, image.manifest.mediaType);
    assert.equal(head?.size, image.manifest.bytes.length);
    assert.equal(await client.headManifest("basic/img", "missing"), undefined);
  });
});
