// What a newcomer reads on stderr (issue 28): each message here is one real
// `dray` run, checked word for word where the words are the point.
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { execFileSync } from "node:child_process";
import { closeSync, createReadStream, openSync, readdirSync, statSync } from "node:fs";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { networkFailureText } from "../../src/transport/registry/http/failure.js";
import { buildImage, pushImage, writeOciLayout, type BuiltImage } from "../helpers/fixtures.js";
import { finalScreen, onPty, startOnPty } from "../helpers/pty.js";
import { makeTempDir } from "../helpers/tmp.js";
import { startProxy, type FaultProxy } from "../helpers/proxy.js";
import { freePort, startRegistry, type RegistryHandle } from "../helpers/registry.js";
import { dray } from "./run.js";

/** A path or URL as it appears inside a RegExp. */
function re(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

describe("network failures in words, naming the request", () => {
  let silent: Server;
  let silentPort: number;
  const sockets: Socket[] = [];
  let reg: RegistryHandle;
  let proxy: FaultProxy;

  before(async () => {
    silent = createServer((s) => {
      sockets.push(s); // accepts, then never says a word
      s.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    silentPort = (silent.address() as { port: number }).port;
    reg = await startRegistry();
    proxy = await startProxy(reg);
    await pushImage({ url: reg.url }, "app", "1", await buildImage({ seed: "messages-net" }));
  });
  after(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });

  it("nothing listening: the host and port, a question, the request, the retries", async () => {
    const port = await freePort();
    const r = await dray(["inspect", `127.0.0.1:${port}/app:1`, "--retries", "1"]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `dray: nothing listens on 127.0.0.1:${port} (is the registry running?): GET http://127.0.0.1:${port}/v2/app/manifests/1 (after 1 retry; --retries N)\n`,
    );
  });

  it("HTTPS_PROXY at a closed port: the proxy is named (host:port, no credentials) as the one that refused", async () => {
    const port = await freePort();
    const env = {
      HTTPS_PROXY: `http://user:s3cret@127.0.0.1:${port}`,
      https_proxy: undefined,
      HTTP_PROXY: undefined,
      http_proxy: undefined,
      NO_PROXY: undefined,
      no_proxy: undefined,
    };
    // The registry's name is never looked up: the connection to the proxy is refused first.
    const r = await dray(["inspect", "registry.example.test/app:1", "--retries", "0"], { env });
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `dray: the proxy 127.0.0.1:${port} (HTTPS_PROXY) refused the connection (nothing listens there; is the proxy running?): GET https://registry.example.test/v2/app/manifests/1\n`,
    );
    assert.doesNotMatch(r.stderr, /s3cret|user/);
  });

  it("a server that accepts and stays silent: 'sent nothing within N s', plain HTTP kept (no https, no /v2/ ping)", async () => {
    const r = await dray(["inspect", `127.0.0.1:${silentPort}/app:1`, "--retries", "0"], { env: { DRAY_HTTP_TIMEOUT: "1" } });
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `dray: 127.0.0.1:${silentPort} accepted the connection but sent nothing within 1 s: GET http://127.0.0.1:${silentPort}/v2/app/manifests/1\n`,
    );
  });

  it("a 5xx that outlasts the retries says it was retried", async () => {
    proxy.addRule({ method: "GET", path: "/manifests/", action: { kind: "status", status: 503 } });
    try {
      const r = await dray(["inspect", `${proxy.host}/app:1`, "--retries", "2"]);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        new RegExp(
          `^dray: registry error: manifest 1 at docker://${re(proxy.host)}/app:1: injected 503 \\(UNKNOWN\\) \\(HTTP 503\\) \\(after 2 retries; --retries N\\)\n$`,
        ),
      );
    } finally {
      proxy.clearRules();
    }
  });

  it("a name that does not resolve, and the other failures, each in words (getaddrinfo's error shape)", () => {
    const url = new URL("https://registry.invalid/v2/app/manifests/1");
    const req = `GET ${url.href}`;
    const err = (code: string, message = code): Error => Object.assign(new Error(message), { code });
    assert.equal(
      networkFailureText(err("ENOTFOUND", "getaddrinfo ENOTFOUND registry.invalid"), req, url),
      `cannot resolve registry.invalid (no such host): ${req}`,
    );
    assert.equal(
      networkFailureText(err("UND_ERR_CONNECT_TIMEOUT"), req, url, 30),
      `registry.invalid:443 did not accept a connection within 30 s: ${req}`,
    );
    assert.equal(networkFailureText(err("ECONNRESET"), req, url), `registry.invalid:443 closed the connection: ${req}`);
  });
});

describe("output paths and --ca-file are checked before anything is read, in words (exit 2)", () => {
  let dir: string;
  let img: BuiltImage;
  let reg: RegistryHandle;
  let proxy: FaultProxy;

  before(async () => {
    dir = makeTempDir();
    await chmod(dir, 0o755); // the nobody row must reach ro/
    img = await buildImage({ seed: "messages-out" });
    await writeOciLayout(join(dir, "img"), img, "1");
    await mkdir(join(dir, "ro"));
    await chmod(join(dir, "ro"), 0o555);
    reg = await startRegistry();
    proxy = await startProxy(reg);
    await pushImage({ url: reg.url }, "app", "1", img);
  });

  const layer = (): string => img.layers[0]!.digest.toString();
  const rows: Array<{ what: string; args: (d: string) => string[]; code: number; line: (d: string) => string; asNobody?: boolean }> = [
    {
      what: "export -o DIR",
      args: (d) => ["export", `${proxyLoc()}`, "-o", d],
      code: 2,
      line: (d) => `-o ${d} is a directory; give a file name`,
    },
    {
      what: "export -o missing/x.tar",
      args: (d) => ["export", `${proxyLoc()}`, "-o", `${d}/missing/x.tar`],
      code: 2,
      line: (d) => `-o ${d}/missing/x.tar: the folder ${d}/missing does not exist; create it first or choose another folder`,
    },
    {
      what: "blob -o DIR",
      args: (d) => ["blob", `${proxyLoc()}`, layer(), "-o", d],
      code: 2,
      line: (d) => `-o ${d} is a directory; give a file name`,
    },
    {
      what: "blob -o missing/b",
      args: (d) => ["blob", `${proxyLoc()}`, layer(), "-o", `${d}/missing/b`],
      code: 2,
      line: (d) => `-o ${d}/missing/b: the folder ${d}/missing does not exist; create it first or choose another folder`,
    },
    {
      what: "blob -o into a folder the user may not write",
      args: (d) => ["blob", `${proxyLoc()}`, layer(), "-o", `${d}/ro/b`],
      code: 2,
      line: (d) => `-o ${d}/ro/b: cannot write in ${d}/ro (permission denied); choose a folder you can write in`,
      asNobody: true,
    },
    {
      what: "export -o /proc/x (a folder that takes no new files)",
      args: () => ["export", `${proxyLoc()}`, "-o", "/proc/x"],
      code: 2,
      line: () => "-o /proc/x: cannot create a file in /proc (the file system takes no new files there); choose another folder",
    },
    {
      what: "blob -o /proc/x (the same rule as a directory named: found before any transfer, so usage)",
      args: () => ["blob", `${proxyLoc()}`, layer(), "-o", "/proc/x"],
      code: 2,
      line: () => "-o /proc/x: cannot create a file in /proc (the file system takes no new files there); choose another folder",
    },
    {
      what: "--ca-file missing",
      args: (d) => ["inspect", "--ca-file", `${d}/nope.pem`, proxyLoc()],
      code: 2,
      line: (d) => `--ca-file ${d}/nope.pem does not exist`,
    },
    {
      what: "--ca-file that holds no certificate",
      args: (d) => ["inspect", "--ca-file", `${d}/notes.txt`, proxyLoc()],
      code: 2,
      line: (d) => `--ca-file ${d}/notes.txt holds no PEM certificate (no "-----BEGIN CERTIFICATE-----" line)`,
    },
    {
      what: "copy --dest-ca-file that holds no certificate (the side's own flag named)",
      args: (d) => ["copy", "--dest-ca-file", `${d}/notes.txt`, `docker://${proxyLoc()}`, `docker://${proxy.host}/copy:1`],
      code: 2,
      line: (d) => `--dest-ca-file ${d}/notes.txt holds no PEM certificate (no "-----BEGIN CERTIFICATE-----" line)`,
    },
    {
      what: "--cert-dir naming a file",
      args: (d) => ["inspect", "--cert-dir", `${d}/notes.txt`, proxyLoc()],
      code: 2,
      line: (d) => `--cert-dir ${d}/notes.txt is a file, not a folder`,
    },
    {
      what: "copy --src-cert-dir naming a file beside a good --cert-dir",
      args: (d) => ["copy", "--src-cert-dir", `${d}/notes.txt`, "--cert-dir", d, `docker://${proxyLoc()}`, `docker://${proxy.host}/copy:1`],
      code: 2,
      line: (d) => `--src-cert-dir ${d}/notes.txt is a file, not a folder`,
    },
    ...[
      ["inspect", "--ca-file="],
      ["inspect", "--client-cert=", "--client-key", "k.pem"],
      ["inspect", "--creds-file="],
      ["copy", "--dest-ca-file", ""],
    ].map((args) => {
      const flag = args[1]!.replace(/=$/, "");
      return {
        what: `${args.join(" ")} (an empty value): the flag named, one space`,
        args: (): string[] =>
          args[0] === "copy" ? [...args, `docker://${proxyLoc()}`, `docker://${proxy.host}/copy:1`] : [...args, proxyLoc()],
        code: 2,
        line: (): string => `${flag} needs a file name, not an empty value`,
      };
    }),
    ...[
      ["copy", "--src-client-key", "--src-client-cert"],
      ["copy", "--dest-client-cert", "--dest-client-key"],
      ["copy", "--src-client-cert", "--src-client-key"],
      ["inspect", "--client-key", "--client-cert"],
    ].map(([cmd, given, partner]) => ({
      what: `${cmd} ${given} alone: names the flag typed and its partner of the same side`,
      args: (d: string): string[] =>
        cmd === "copy"
          ? [cmd, given!, `${d}/notes.txt`, `docker://${proxyLoc()}`, `docker://${proxy.host}/copy:1`]
          : [cmd!, given!, `${d}/notes.txt`, proxyLoc()],
      code: 2,
      line: (): string => `${given} needs ${partner}`,
    })),
  ];
  const proxyLoc = (): string => `${proxy.host}/app:1`;

  for (const row of rows) {
    it(`${row.what}: one line, exit ${row.code}, no request made`, async () => {
      await writeFile(join(dir, "notes.txt"), "not a certificate\n");
      proxy.log.length = 0;
      if (row.asNobody && process.getuid?.() !== 0) return; // only root can become nobody; as nobody the folder is refused anyway
      const r = await dray(row.args(dir), row.asNobody ? { user: { uid: 65534, gid: 65534 } } : {});
      assert.equal(r.stderr, `dray: ${row.line(dir)}\n`);
      assert.equal(r.code, row.code);
      assert.equal(proxy.log.length, 0, "nothing was asked of the registry");
    });
  }

  it("blob: a layer is refused on a terminal before its GET; a config prints", async () => {
    proxy.log.length = 0;
    const r = await onPty(["blob", proxyLoc(), layer()], { NO_COLOR: "1" });
    assert.equal(r.code, 2, r.raw);
    assert.deepEqual(finalScreen(r.raw), [
      `dray: refusing to write blob ${layer()} (${img.layers[0]!.mediaType}) to a terminal: use -o FILE or a pipe`,
    ]);
    assert.equal(proxy.count("GET", "/blobs/"), 0, "the layer was not fetched");
    const config = await onPty(["blob", proxyLoc(), img.config.digest.toString()], { NO_COLOR: "1" });
    assert.equal(config.code, 0, config.raw);
    assert.match(config.raw, /"architecture"/);
  });
  it("export into a full device (-o or standard output): one line in words, and the device stays a device", async () => {
    // A device node of the test's own, as /dev/full is (char 1:7): root may make one anywhere.
    const full = join(dir, "full");
    execFileSync("mknod", ["-m", "666", full, "c", "1", "7"]);
    const viaFlag = await dray(["export", proxyLoc(), "-o", full]);
    assert.equal(viaFlag.stderr, `dray: cannot write ${full}: no space left on device\n`);
    assert.equal(viaFlag.code, 1);
    assert.ok(statSync(full).isCharacterDevice(), "not replaced by a file renamed over it");
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.includes(".dray-")),
      [],
    );
    const fd = openSync(full, "w");
    try {
      const viaStdout = await dray(["export", proxyLoc()], { stdoutFd: fd });
      assert.equal(viaStdout.stderr, "dray: cannot write to standard output: no space left on device\n");
      assert.equal(viaStdout.code, 1);
    } finally {
      closeSync(fd);
    }
    // /dev/null-like devices are written into as well: the export succeeds and the node is untouched.
    const nul = join(dir, "null");
    execFileSync("mknod", ["-m", "666", nul, "c", "1", "3"]);
    const quiet = await dray(["export", proxyLoc(), "-o", nul, "--quiet"]);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.ok(statSync(nul).isCharacterDevice());
  });
});

describe("--progress json: stderr holds JSON events only, the summary being the last (issue 28 item 19)", () => {
  let dir: string;
  before(async () => {
    dir = makeTempDir();
    await writeOciLayout(join(dir, "src"), await buildImage({ seed: "messages-json" }), "1");
  });

  const events = (stderr: string): Array<{ type: string }> =>
    stderr
      .trimEnd()
      .split("\n")
      .map((l) => {
        try {
          return JSON.parse(l) as { type: string };
        } catch {
          assert.fail(`a line that is not JSON on stderr: ${l}`);
        }
      });

  it("copy: every line JSON, ending with done (no 'Copied …' line)", async () => {
    const r = await dray(["copy", "--progress", "json", `oci:${dir}/src:1`, `oci:${dir}/copy:1`]);
    assert.equal(r.code, 0, r.stderr);
    const all = events(r.stderr);
    assert.equal(all.at(-1)!.type, "done");
  });

  it("sync: every line JSON, ending with done; -q with --progress json is refused as copy refuses it", async () => {
    const r = await dray(["sync", "--progress", "json", `oci:${dir}/src`, `oci:${dir}/mirror`]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      events(r.stderr).map((e) => e.type),
      ["repository", "image", "done"],
    );
    for (const cmd of [
      ["copy", `oci:${dir}/src:1`, `oci:${dir}/q:1`],
      ["sync", `oci:${dir}/src`, `oci:${dir}/q`],
    ]) {
      const q = await dray([...cmd, "-q", "--progress", "json"]);
      assert.equal(q.code, 2, cmd[0]);
      assert.equal(q.stderr, "dray: -q and --progress json contradict each other: -q prints nothing on stderr\n");
    }
  });
});

describe("export -o and blob -o say what they wrote (issue 28 item 20)", () => {
  it("one summary line on stderr; -q none", async () => {
    const dir = makeTempDir();
    const img = await buildImage({ seed: "messages-wrote" });
    await writeOciLayout(join(dir, "src"), img, "1");
    const r = await dray(["export", `oci:${dir}/src:1`, "-o", `${dir}/root.tar`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`^Wrote ${re(dir)}/root\\.tar: [\\d.]+ [k]?B in [\\d.]+ s\n$`));
    const b = await dray(["blob", `oci:${dir}/src:1`, img.layers[0]!.digest.toString(), "-o", `${dir}/layer`]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stderr, new RegExp(`^Wrote ${re(dir)}/layer: [\\d.]+ [k]?B in [\\d.]+ s\n$`));
    const q = await dray(["export", "-q", `oci:${dir}/src:1`, "-o", `${dir}/root2.tar`]);
    assert.equal(q.stderr, "");
  });
});

describe("bare dray and help (issue 28 items 2, 22)", () => {
  it("dray alone: help on stderr, exit 2; dray --help: help on stdout, exit 0", async () => {
    const bare = await dray([]);
    assert.equal(bare.code, 2);
    assert.equal(bare.stdout, "");
    assert.match(bare.stderr, /^Usage: dray \[options\] \[command\]/);
    assert.match(bare.stderr, /\ndray: a command is needed \(dray COMMAND --help for its use\)\n$/);
    const onlyFlags = await dray(["--no-color"]);
    assert.equal(onlyFlags.code, 2);
    const help = await dray(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: dray \[options\] \[command\]/);
    assert.equal(help.stderr, "");
  });

  it("--help says what the JSON and the defaults are", async () => {
    // Help wraps at the terminal's width: read it as one line.
    const help = async (cmd: string): Promise<string> => (await dray([cmd, "--help"])).stdout.replace(/\s+/g, " ");
    assert.match(await help("digest"), /json \(\{"Location", "Digest"\}\)/);
    assert.match(await help("tag"), /json \(\{"Source", "Tagged": \[LOCATION…\]\}\)/);
    assert.match((await dray(["ratelimit", "--help"])).stdout, /-f, --format <format>/);
    assert.match((await dray(["--help"])).stdout, /between\s+registries,\s+OCI\s+layouts\s+and\s+oci-archive\s+files/);
  });
});

describe("dray sync FILE.yaml with --dest or a DST argument (issue 28 item 5)", () => {
  it("a file without destination takes --dest or DST; without either the error names --dest", async () => {
    const dir = makeTempDir();
    await writeOciLayout(join(dir, "src"), await buildImage({ seed: "messages-sync-dest" }), "1");
    const file = join(dir, "s.yaml");
    await writeFile(file, `sync:\n  - source: oci:${dir}/src\n`);
    const viaFlag = await dray(["sync", "-q", file, "--dest", `oci:${dir}/usb1`]);
    assert.equal(viaFlag.code, 0, viaFlag.stderr);
    const viaArg = await dray(["sync", "-q", file, `oci:${dir}/usb2`]);
    assert.equal(viaArg.code, 0, viaArg.stderr);
    for (const usb of ["usb1", "usb2"]) assert.equal((await dray(["ls", `oci:${dir}/${usb}/src`])).stdout, "1\n", usb);
    const neither = await dray(["sync", file]);
    assert.equal(neither.code, 2);
    assert.equal(
      neither.stderr,
      `dray: ${file}:2:5: sync[0]: missing "destination" (here or at the top of the file, or give --dest DST)\n`,
    );
    const both = await dray(["sync", file, `oci:${dir}/a`, "--dest", `oci:${dir}/b`]);
    assert.equal(both.code, 2);
    assert.equal(both.stderr, `dray: give the destination once: oci:${dir}/a or --dest oci:${dir}/b\n`);
  });
});

describe("Ctrl-C during sync: the image in flight is 'interrupted', not FAILED (issue 28 item 15)", () => {
  it("SIGINT while a layer is held at the proxy", async () => {
    const reg = await startRegistry();
    const proxy = await startProxy(reg);
    const img = await buildImage({ seed: "messages-int" });
    await pushImage({ url: reg.url }, "app", "1", img);
    proxy.addRule({ method: "GET", path: img.layers[0]!.digest.toString(), action: { kind: "stall", ms: 20_000 } });
    const dir = makeTempDir();
    const { spawn } = await import("node:child_process");
    const { fileURLToPath } = await import("node:url");
    const entry = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "./dray-entry.ts" : "./dray-entry.js", import.meta.url));
    const args = import.meta.url.endsWith(".ts") ? ["--import", "tsx", entry] : [entry];
    const child = spawn(process.execPath, [...args, "sync", `${proxy.host}/app`, `oci:${dir}/m`], {
      env: { ...process.env, NO_COLOR: "1" },
    });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    for (let i = 0; i < 100 && proxy.count("GET", img.layers[0]!.digest.toString()) === 0; i++)
      await new Promise((r) => setTimeout(r, 100));
    child.kill("SIGINT");
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    assert.equal(code, 130, stderr);
    assert.match(stderr, new RegExp(`^interrupted +docker://${re(proxy.host)}/app:1 -> oci:${re(dir)}/m:1$`, "m"));
    assert.ok(!stderr.includes("FAILED"), stderr);
    await proxy.stop();
    await reg.stop();
  });
});

/** Resolves once process `pid` catches SIGINT (its SigCgt mask in /proc has bit 1): dray's handlers are in. */
async function catchesSigint(pid: number): Promise<void> {
  const { readFileSync } = await import("node:fs");
  for (let waited = 0; waited < 20_000; waited += 50) {
    const caught = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    if (caught !== undefined && (BigInt(`0x${caught}`) & 2n) !== 0n) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`process ${pid} never caught SIGINT`);
}

describe("export -o FIFO (a named pipe)", () => {
  it("waits for a reader without blocking signals: SIGINT with no reader is exit 130; a reader arriving later gets the tar", async () => {
    const dir = makeTempDir();
    await writeOciLayout(join(dir, "src"), await buildImage({ seed: "messages-fifo" }), "1");
    const fifo = join(dir, "pipe");
    execFileSync("mkfifo", [fifo]);
    const { spawn } = await import("node:child_process");
    const { createReadStream } = await import("node:fs");
    const { fileURLToPath } = await import("node:url");
    const entry = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "./dray-entry.ts" : "./dray-entry.js", import.meta.url));
    const args = import.meta.url.endsWith(".ts") ? ["--import", "tsx", entry] : [entry];
    const exportInto = (): ReturnType<typeof spawn> =>
      spawn(process.execPath, [...args, "export", `oci:${dir}/src:1`, "-o", fifo], { env: { ...process.env, NO_COLOR: "1" } });
    const ended = (child: ReturnType<typeof spawn>): Promise<number | null> =>
      new Promise((resolve) => {
        // A blocking open of the FIFO used to keep dray past every signal: SIGKILL after 20 s, and the test fails.
        const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
        child.on("close", (code) => {
          clearTimeout(killer);
          resolve(code);
        });
      });
    const waiting = exportInto();
    // Signal once dray's handlers are in, and a while after (it reaches the FIFO): a signal at a fixed 1.5 s could
    // arrive before them on a loaded machine and end dray by the signal itself, with no exit code.
    await catchesSigint(waiting.pid!);
    await new Promise((r) => setTimeout(r, 1000));
    waiting.kill("SIGINT");
    assert.equal(await ended(waiting), 130, "SIGINT while no one reads the FIFO");
    const writer = exportInto();
    await new Promise((r) => setTimeout(r, 500));
    const chunks: Buffer[] = [];
    for await (const c of createReadStream(fifo)) chunks.push(c as Buffer);
    assert.equal(await ended(writer), 0);
    const tar = Buffer.concat(chunks);
    assert.ok(tar.length >= 1024, `${tar.length} bytes read`);
    assert.equal(tar.subarray(257, 262).toString(), "ustar", "a tar header");
  });
  it("on a terminal one line says it waits for a reader (not with -q); the reader then gets the data", async () => {
    const dir = makeTempDir();
    const img = await buildImage({ seed: "messages-fifo-tty" });
    await writeOciLayout(join(dir, "src"), img, "1");
    const fifo = join(dir, "pipe");
    execFileSync("mkfifo", [fifo]);
    const readAll = async (): Promise<Buffer> => {
      const chunks: Buffer[] = [];
      for await (const c of createReadStream(fifo)) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    };
    const run = startOnPty(["export", `oci:${dir}/src:1`, "-o", fifo], { NO_COLOR: "1" });
    await run.until("waiting for a reader");
    const tar = await readAll();
    const r = await run.done;
    assert.equal(r.code, 0, r.raw);
    assert.equal(tar.subarray(257, 262).toString(), "ustar", "a tar header");
    const screen = finalScreen(r.raw);
    assert.equal(screen[0], `waiting for a reader on FIFO ${fifo} (Ctrl-C to stop)`);
    assert.match(screen[1] ?? "", new RegExp(`^Wrote ${re(fifo)}: `));
    assert.equal(screen.length, 2, r.raw);
    // -q: silence, the wait included (blob shares the writer with export).
    const layer = img.layers[0]!;
    const quiet = startOnPty(["blob", "-q", `oci:${dir}/src:1`, layer.digest.toString(), "-o", fifo], { NO_COLOR: "1" });
    await new Promise((res) => setTimeout(res, 1500));
    const blob = await readAll();
    const q = await quiet.done;
    assert.equal(q.code, 0, q.raw);
    assert.equal(blob.length, layer.size);
    assert.equal(q.raw, "");
  });
});
