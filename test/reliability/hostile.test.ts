// Hostile local input through the real CLI: OCI layouts, oci-archives and
// docker-archives from strangers (traversal in names, links out of the tree,
// blobs named by invalid digests, index.json pointing outside blobs/, a
// truncated tar, a gzip bomb where a layer must be decompressed), and hostile
// destinations (a layout whose blobs/ or index.json is a symlink out). Each
// must be refused with a clear one-line error, and nothing may be written
// outside the destination: a sentinel folder beside the input, holding files
// the hostile names point at, is compared before and after.
import { Readable } from "node:stream";
import { compressStream } from "../../src/oci/compression.js";
import { streamToBuffer } from "../transport/layout/util.js";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { Digest } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/mediatype.js";
import { buildImage, writeOciLayout, type BuiltImage } from "../helpers/fixtures.js";
import { requireTool } from "../helpers/registry.js";
import { makeTempDir } from "../helpers/tmp.js";
import { rawTar, type RawTarEntry } from "../transport/archive/support.js";
import { assertNoSecretsPrinted, caseIt, lastLine, layoutState, run, slug, snapshotTree, startResults } from "./support.js";

startResults(import.meta.url);

const REF_NAME = "org.opencontainers.image.ref.name";

interface Scene {
  base: string;
  sentinel: string;
  /** Where the hostile input goes (a folder or a file path). */
  input: string;
  /** Where dray is asked to write. */
  out: string;
}

interface HostileCase {
  name: string;
  sent: string;
  /** Builds the hostile input (or destination) inside the scene. */
  make: (s: Scene) => Promise<void>;
  /** Source and destination locations. */
  args: (s: Scene) => [string, string];
  code: number;
  message: RegExp;
  /** The destination is hostile itself: the check is that nothing escaped through it. */
  hostileDestination?: boolean;
  timeoutMs?: number;
}

let img: BuiltImage;
/** The image's layer bytes: the sentinel's "secret" holds them, so a link to it would even verify. */
let secretBytes: Buffer;

async function scene(name: string): Promise<Scene> {
  const base = join(makeTempDir("dray-rel-hostile-"), "w");
  const sentinel = join(base, "sentinel");
  await mkdir(sentinel, { recursive: true });
  await writeFile(join(sentinel, "secret"), secretBytes);
  await writeFile(join(sentinel, "index.json"), '{"sentinel":true}');
  await mkdir(join(base, "sha256"), { recursive: true });
  return { base, sentinel, input: join(base, "in", slug(name)), out: join(base, "out", slug(name)) };
}

// ---- building hostile inputs ----

async function layoutWithIndex(dir: string, manifests: unknown[]): Promise<void> {
  await writeOciLayout(dir, img, "v1");
  await writeFile(join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests }));
}

function ociEntries(over: { index?: unknown; blobs?: RawTarEntry[]; extra?: RawTarEntry[] } = {}): RawTarEntry[] {
  const blobs =
    over.blobs ??
    [img.config, ...img.layers, { digest: img.manifest.digest, bytes: img.manifest.bytes }].map((b) => ({
      name: b.digest.blobPath,
      content: b.bytes,
    }));
  const index = over.index ?? {
    schemaVersion: 2,
    manifests: [
      {
        mediaType: img.manifest.mediaType,
        digest: img.manifest.digest.toString(),
        size: img.manifest.bytes.length,
        annotations: { [REF_NAME]: "v1" },
      },
    ],
  };
  return [
    { name: "oci-layout", content: '{"imageLayoutVersion":"1.0.0"}' },
    ...blobs,
    ...(over.extra ?? []),
    { name: "index.json", content: JSON.stringify(index) },
  ];
}

/** A docker save archive of `img` (gzip layers kept as they are, as Docker 25+ may). */
function dockerEntries(
  over: { layers?: string[]; config?: string; extra?: RawTarEntry[]; layerEntries?: RawTarEntry[] } = {},
): RawTarEntry[] {
  const layerNames = img.layers.map((_, i) => `l${i}/layer.tar`);
  const item = { Config: over.config ?? "config.json", RepoTags: ["dray/hostile:v1"], Layers: over.layers ?? layerNames };
  return [
    { name: "config.json", content: img.config.bytes },
    ...(over.layerEntries ?? img.layers.map((l, i) => ({ name: layerNames[i]!, content: l.tar }))),
    ...(over.extra ?? []),
    { name: "manifest.json", content: JSON.stringify([item]) },
  ];
}

async function writeTar(file: string, entries: RawTarEntry[], cut?: number): Promise<void> {
  await mkdir(join(file, ".."), { recursive: true });
  const bytes = await rawTar(entries);
  await writeFile(file, cut === undefined ? bytes : bytes.subarray(0, cut));
}

const bad = (s: Scene): string => `${s.sentinel}/secret`;

const CASES: HostileCase[] = [
  // --- OCI layouts ---
  {
    name: "layout: index.json names a blob sha256:../../sentinel/secret",
    sent: "oci: layout whose index.json entry digest is a path out of blobs/",
    make: (s) =>
      layoutWithIndex(s.input, [
        {
          mediaType: MediaType.OciManifest,
          digest: "sha256:../../../sentinel/secret",
          size: secretBytes.length,
          annotations: { [REF_NAME]: "v1" },
        },
      ]),
    args: (s) => [`oci:${s.input}:v1`, `oci:${s.out}:v1`],
    code: 5,
    message: /not a valid digest/,
  },
  {
    name: "layout: index.json names a blob by uppercase hex",
    sent: "oci: layout whose index.json entry digest is sha256:<UPPERCASE HEX>",
    make: (s) =>
      layoutWithIndex(s.input, [
        {
          mediaType: img.manifest.mediaType,
          digest: `sha256:${img.manifest.digest.hex.toUpperCase()}`,
          size: img.manifest.bytes.length,
          annotations: { [REF_NAME]: "v1" },
        },
      ]),
    args: (s) => [`oci:${s.input}:v1`, `oci:${s.out}:v1`],
    code: 5,
    message: /not a valid digest/,
  },
  {
    name: "layout: a manifest names its layer sha256:../../../sentinel/secret",
    sent: "oci: layout with a manifest (stored under its true digest) whose layer digest is a path",
    make: async (s) => {
      const doc = JSON.parse(img.manifest.bytes.toString()) as { layers: Array<Record<string, unknown>> };
      doc.layers[0]!.digest = "sha256:../../../sentinel/secret";
      const bytes = Buffer.from(JSON.stringify(doc));
      const d = Digest.of(bytes);
      await writeOciLayout(s.input, img, "v1");
      await writeFile(join(s.input, d.blobPath), bytes);
      await writeFile(
        join(s.input, "index.json"),
        JSON.stringify({
          schemaVersion: 2,
          manifests: [{ mediaType: MediaType.OciManifest, digest: d.toString(), size: bytes.length, annotations: { [REF_NAME]: "v1" } }],
        }),
      );
    },
    args: (s) => [`oci:${s.input}:v1`, `oci:${s.out}:v1`],
    code: 5,
    message: /not a valid digest/,
  },
  {
    name: "layout: a layer blob is a symlink out of the tree (to the right bytes)",
    sent: "oci: layout whose blobs/sha256/<layer> is a symlink to ../../../sentinel/secret, which holds the layer's bytes",
    make: async (s) => {
      await writeOciLayout(s.input, img, "v1");
      const p = join(s.input, img.layers[0]!.digest.blobPath);
      await rm(p);
      await symlink(bad(s), p);
    },
    args: (s) => [`oci:${s.input}:v1`, `oci:${s.out}:v1`],
    code: 5,
    message: /symlink|link|outside|not a regular file/i,
  },
  {
    name: "layout: blobs/ is a symlink to a folder outside",
    sent: "oci: layout whose blobs/ is a symlink to a folder outside holding every blob",
    make: async (s) => {
      const outside = join(s.base, "elsewhere");
      await writeOciLayout(outside, img, "v1");
      await mkdir(s.input, { recursive: true });
      await writeFile(join(s.input, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
      await writeFile(join(s.input, "index.json"), await import("node:fs/promises").then((f) => f.readFile(join(outside, "index.json"))));
      await symlink(join(outside, "blobs"), join(s.input, "blobs"));
    },
    args: (s) => [`oci:${s.input}:v1`, `oci:${s.out}:v1`],
    code: 5,
    message: /symlink|link|outside/i,
  },
  {
    name: "destination layout: blobs/sha256 is a symlink to the sentinel folder",
    sent: "a good source; destination oci: layout whose blobs/sha256 links to a folder outside",
    hostileDestination: true,
    make: async (s) => {
      await writeOciLayout(s.input, img, "v1");
      await mkdir(join(s.out, "blobs"), { recursive: true });
      await writeFile(join(s.out, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
      await writeFile(join(s.out, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [] }));
      await symlink(join(s.base, "sha256"), join(s.out, "blobs", "sha256"));
    },
    args: (s) => [`oci:${s.input}:v1`, `oci:${s.out}:v1`],
    code: 5,
    message: /symlink|link|outside/i,
  },
  {
    name: "destination layout: index.json is a symlink to a file outside",
    sent: "a good source; destination oci: layout whose index.json links to sentinel/index.json",
    hostileDestination: true,
    make: async (s) => {
      await writeOciLayout(s.input, img, "v1");
      await mkdir(s.out, { recursive: true });
      await writeFile(join(s.out, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
      await symlink(join(s.sentinel, "index.json"), join(s.out, "index.json"));
    },
    args: (s) => [`oci:${s.input}:v1`, `oci:${s.out}:v1`],
    code: 5,
    message: /symlink|link|outside|index\.json/i,
  },
  // --- oci-archives ---
  {
    name: "oci-archive: entry named ../../sentinel/pwned",
    sent: "oci-archive with an extra entry ../../sentinel/pwned",
    make: (s) => writeTar(`${s.input}.tar`, ociEntries({ extra: [{ name: "../../sentinel/pwned", content: "pwned" }] })),
    args: (s) => [`oci-archive:${s.input}.tar:v1`, `oci:${s.out}:v1`],
    code: 5,
    message: /\.\.|unsafe|traversal|outside/i,
  },
  {
    name: "oci-archive: entry with an absolute path into the sentinel",
    sent: "oci-archive with an entry /…/sentinel/pwned-abs",
    make: (s) => writeTar(`${s.input}.tar`, ociEntries({ extra: [{ name: `${s.sentinel}/pwned-abs`, content: "pwned" }] })),
    args: (s) => [`oci-archive:${s.input}.tar:v1`, `oci:${s.out}:v1`],
    code: 5,
    message: /absolute|unsafe|outside/i,
  },
  {
    name: "oci-archive: layer blob is a symlink to a file outside",
    sent: "oci-archive whose blobs/sha256/<layer> entry is a symlink to /…/sentinel/secret (the layer's bytes)",
    make: (s) =>
      writeTar(
        `${s.input}.tar`,
        ociEntries({
          blobs: [
            { name: img.config.digest.blobPath, content: img.config.bytes },
            { name: img.layers[0]!.digest.blobPath, type: "symlink", linkname: bad(s) },
            { name: img.manifest.digest.blobPath, content: img.manifest.bytes },
          ],
        }),
      ),
    args: (s) => [`oci-archive:${s.input}.tar:v1`, `oci:${s.out}:v1`],
    code: 5,
    message: /symlink|link/i,
  },
  {
    name: "oci-archive: layer blob is a hard link out of the tree",
    sent: "oci-archive whose blobs/sha256/<layer> entry is a hard link to ../../sentinel/secret",
    make: (s) =>
      writeTar(
        `${s.input}.tar`,
        ociEntries({
          blobs: [
            { name: img.config.digest.blobPath, content: img.config.bytes },
            { name: img.layers[0]!.digest.blobPath, type: "link", linkname: "../../sentinel/secret" },
            { name: img.manifest.digest.blobPath, content: img.manifest.bytes },
          ],
        }),
      ),
    args: (s) => [`oci-archive:${s.input}.tar:v1`, `oci:${s.out}:v1`],
    code: 5,
    message: /link|\.\./i,
  },
  {
    name: "oci-archive: a blob named by an invalid digest",
    sent: "oci-archive with blobs/sha256/NOT-A-DIGEST, which index.json names",
    make: (s) =>
      writeTar(
        `${s.input}.tar`,
        ociEntries({
          extra: [{ name: "blobs/sha256/NOT-A-DIGEST", content: img.manifest.bytes }],
          index: {
            schemaVersion: 2,
            manifests: [
              {
                mediaType: img.manifest.mediaType,
                digest: "sha256:NOT-A-DIGEST",
                size: img.manifest.bytes.length,
                annotations: { [REF_NAME]: "v1" },
              },
            ],
          },
        }),
      ),
    args: (s) => [`oci-archive:${s.input}.tar:v1`, `oci:${s.out}:v1`],
    code: 5,
    message: /digest/i,
  },
  {
    name: "oci-archive: index.json points outside blobs/",
    sent: 'oci-archive whose index.json entry digest is "sha256:../../../sentinel/secret"',
    make: (s) =>
      writeTar(
        `${s.input}.tar`,
        ociEntries({
          index: {
            schemaVersion: 2,
            manifests: [
              { mediaType: MediaType.OciManifest, digest: "sha256:../../../sentinel/secret", size: 10, annotations: { [REF_NAME]: "v1" } },
            ],
          },
        }),
      ),
    args: (s) => [`oci-archive:${s.input}.tar:v1`, `oci:${s.out}:v1`],
    code: 5,
    message: /not a valid digest/,
  },
  {
    name: "oci-archive: truncated tar",
    sent: "an oci-archive cut in the middle of a blob",
    make: async (s) => {
      const whole = await rawTar(ociEntries());
      await mkdir(join(s.input, ".."), { recursive: true });
      await writeFile(`${s.input}.tar`, whole.subarray(0, 2560 + 100));
    },
    args: (s) => [`oci-archive:${s.input}.tar:v1`, `oci:${s.out}:v1`],
    code: 5,
    message: /tar|truncated|archive/i,
  },
  // --- docker-archives ---
  {
    name: "docker-archive: manifest.json names a layer ../../sentinel/secret",
    sent: "docker-archive whose manifest.json Layers[0] is ../../sentinel/secret",
    make: (s) => writeTar(`${s.input}.tar`, dockerEntries({ layers: ["../../sentinel/secret"] })),
    args: (s) => [`docker-archive:${s.input}.tar`, `oci:${s.out}:v1`],
    code: 5,
    message: /\.\.|unsafe|outside|path/i,
  },
  {
    name: "docker-archive: manifest.json names the config by an absolute path",
    sent: "docker-archive whose manifest.json Config is /…/sentinel/secret",
    make: (s) => writeTar(`${s.input}.tar`, dockerEntries({ config: bad(s) })),
    args: (s) => [`docker-archive:${s.input}.tar`, `oci:${s.out}:v1`],
    code: 5,
    message: /absolute|unsafe|outside|path/i,
  },
  {
    name: "docker-archive: layer.tar is a symlink out of the archive",
    sent: "docker-archive whose l0/layer.tar is a symlink to /…/sentinel/secret",
    make: (s) =>
      writeTar(
        `${s.input}.tar`,
        dockerEntries({
          layerEntries: img.layers.map((l, i) =>
            i === 0 ? { name: "l0/layer.tar", type: "symlink" as const, linkname: bad(s) } : { name: `l${i}/layer.tar`, content: l.tar },
          ),
        }),
      ),
    args: (s) => [`docker-archive:${s.input}.tar`, `oci:${s.out}:v1`],
    code: 5,
    message: /symlink|link/i,
  },
  {
    name: "docker-archive: traversal entry in the tar",
    sent: "docker-archive with an extra entry ../../sentinel/pwned",
    make: (s) => writeTar(`${s.input}.tar`, dockerEntries({ extra: [{ name: "../../sentinel/pwned", content: "x" }] })),
    args: (s) => [`docker-archive:${s.input}.tar`, `oci:${s.out}:v1`],
    code: 5,
    message: /\.\.|unsafe|traversal|outside/i,
  },
  {
    name: "docker-archive: truncated tar",
    sent: "a docker-archive cut in the middle of a layer",
    make: async (s) => {
      const whole = await rawTar(dockerEntries());
      await mkdir(join(s.input, ".."), { recursive: true });
      await writeFile(`${s.input}.tar`, whole.subarray(0, 1024 + 1536));
    },
    args: (s) => [`docker-archive:${s.input}.tar`, `oci:${s.out}:v1`],
    code: 5,
    message: /tar|truncated|archive/i,
  },
  {
    name: "zstd bomb layer copied into a docker-archive (which takes no zstd: the engine decompresses it)",
    sent: "oci: layout whose zstd layer is 640 concatenated zstd frames of 1 MiB of zeros (a few KB inflating to 640 MiB, diff_id honest)",
    make: (s) => writeZstdBombLayout(s.input),
    args: (s) => [`oci:${s.input}:v1`, `docker-archive:${s.out}.tar:dray/zbomb:v1`],
    code: 5,
    message: /bomb|decompresses to more than|too large|limit/i,
    timeoutMs: 90_000,
  },
  {
    name: "gzip bomb layer in a docker save archive, checked against its diff_id while copied",
    sent: "pre-25 docker-archive whose gzip layer.tar is 640 concatenated gzip members of 1 MiB of zeros (~660 KB inflating to 640 MiB, diff_id honest)",
    make: (s) => writeBombArchive(s.input),
    args: (s) => [`docker-archive:${s.input}/bomb.tar`, `oci:${s.out}:v1`],
    code: 5,
    message: /bomb|decompresses to more than|too large|limit/i,
    timeoutMs: 90_000,
  },
];

/** A pre-25 docker save archive (bomb.tar in `dir`) whose single layer.tar is a gzip bomb with an honest diff_id. */
async function writeBombArchive(dir: string): Promise<void> {
  const mib = Buffer.alloc(1024 * 1024);
  const member = gzipSync(mib, { level: 9 });
  const count = 640;
  const bomb = Buffer.concat(Array.from({ length: count }, () => member));
  const diff = createHash("sha256");
  for (let i = 0; i < count; i++) diff.update(mib);
  const diffId = `sha256:${diff.digest("hex")}`;
  const config = Buffer.from(
    JSON.stringify({ architecture: "amd64", os: "linux", config: {}, rootfs: { type: "layers", diff_ids: [diffId] } }),
  );
  const entries: RawTarEntry[] = [
    { name: "config.json", content: config },
    { name: "layer/layer.tar", content: bomb },
    {
      name: "manifest.json",
      content: JSON.stringify([{ Config: "config.json", RepoTags: ["dray/bomb:v1"], Layers: ["layer/layer.tar"] }]),
    },
  ];
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "bomb.tar"), await rawTar(entries));
}

/** A layout holding one image whose single zstd layer is a bomb with an honest diff_id. */
async function writeZstdBombLayout(dir: string): Promise<void> {
  const mib = Buffer.alloc(1024 * 1024);
  const frame = await streamToBuffer(Readable.from([mib]).pipe(compressStream("zstd", 19) as NodeJS.ReadWriteStream & Readable));
  const count = 640;
  const bomb = Buffer.concat(Array.from({ length: count }, () => frame));
  const diff = createHash("sha256");
  for (let i = 0; i < count; i++) diff.update(mib);
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: {},
      rootfs: { type: "layers", diff_ids: [`sha256:${diff.digest("hex")}`] },
    }),
  );
  const img = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: Digest.of(config).toString(), size: config.length },
    layers: [{ mediaType: MediaType.OciLayerZstd, digest: Digest.of(bomb).toString(), size: bomb.length }],
  };
  const manifest = Buffer.from(JSON.stringify(img));
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  for (const b of [config, bomb, manifest]) await writeFile(join(dir, Digest.of(b).blobPath), b);
  await writeFile(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  const entry = {
    mediaType: MediaType.OciManifest,
    digest: Digest.of(manifest).toString(),
    size: manifest.length,
    annotations: { [REF_NAME]: "v1" },
  };
  await writeFile(join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [entry] }));
}

/** Everything under the scene except the destination: what must not change. */
async function outsideDestination(s: Scene): Promise<Record<string, string>> {
  const all = await snapshotTree(s.base);
  const outRel = s.out.slice(s.base.length + 1);
  return Object.fromEntries(
    Object.entries(all).filter(([k]) => !(k === outRel || k.startsWith(`${outRel}/`) || k.startsWith(`${outRel}.tar`))),
  );
}

async function runHostile(c: HostileCase): Promise<string> {
  const s = await scene(c.name);
  await c.make(s);
  await mkdir(join(s.out, ".."), { recursive: true });
  const before = await outsideDestination(s);
  const [src, dst] = c.args(s);
  const started = Date.now();
  const r = await run(["copy", "-q", src, dst]);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  assert.equal(r.code, c.code, `exit ${r.code}, expected ${c.code}: ${lastLine(r.stderr) || "(no error line)"}\n${r.stderr}`);
  assert.match(r.stderr, /^dray: [^\n]+\n$/, "one error line");
  assert.match(r.stderr, c.message);
  assert.deepEqual(await outsideDestination(s), before, "nothing written or changed outside the destination");
  // The destination holds no image and no unverified blob.
  if (dst.startsWith("oci:")) {
    const st = await layoutState(s.out);
    // A layout folder the failed copy created is taken away again (issue 19: "the destination as it was").
    if (!c.hostileDestination) assert.equal(st.exists, false, `the new destination folder is removed: ${JSON.stringify(st)}`);
  } else {
    const st = await layoutState(`${s.out}.tar`).catch(() => undefined);
    assert.ok(!st?.exists, "no archive written");
  }
  return `exit ${r.code} in ${seconds} s: "${lastLine(r.stderr)}"; nothing changed outside the destination`;
}

describe("hostile local input is refused and nothing escapes the destination", () => {
  before(async () => {
    requireTool("skopeo");
    img = await buildImage({ seed: "rel-hostile", layerCount: 2 });
    secretBytes = img.layers[0]!.bytes;
  });

  it("control: the same image from a clean layout and archives copies fine", async () => {
    const s = await scene("control");
    await writeOciLayout(s.input, img, "v1");
    assert.equal((await run(["copy", "-q", `oci:${s.input}:v1`, `oci:${s.out}:v1`])).code, 0);
    await writeTar(`${s.input}.tar`, ociEntries());
    const r1 = await run(["copy", "-q", `oci-archive:${s.input}.tar:v1`, `oci:${s.out}-2:v1`]);
    assert.equal(r1.code, 0, r1.stderr);
    await writeTar(`${s.input}-d.tar`, dockerEntries());
    const r2 = await run(["copy", "-q", `docker-archive:${s.input}-d.tar`, `oci:${s.out}-3:v1`]);
    assert.equal(r2.code, 0, r2.stderr);
  });

  for (const c of CASES) caseIt("hostile", c.name, c.sent, () => runHostile(c), { timeout: c.timeoutMs ?? 60_000 });

  it("no secret printed (none in play here; checks the recorder)", () => {
    assert.ok(assertNoSecretsPrinted() >= CASES.length);
  });
});
