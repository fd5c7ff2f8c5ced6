// The benchmark cases of issue 7: what each contender runs, where each run
// writes (a fresh repository or folder per run), how a run is checked
// (untimed), and the issue's target for the case.
import { writeFileSync } from "node:fs";
import { readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Digest } from "../src/oci/digest.js";
import { MediaType } from "../src/oci/mediatype.js";
import type { RegistryHandle } from "../test/helpers/registry.js";
import { REPO_30, REPO_BIG, REPO_INDEX, REPO_RECOPY, SYNC_IDLE_PREFIX, SYNC_REPOS, SYNC_TAGS, TAG, type BenchImages } from "./images.js";
import type { Command } from "./measure.js";
import { dropSkopeoCache, drayCopy, skopeoCopy, skopeoInspect, type Tools } from "./tools.js";

export type Tool = "dray" | "skopeo" | "node" | "undici" | "curl" | "exe";

/** One timed run: which repetition (`w0` … for warm-ups, `1` … for measured runs). */
export interface Slot {
  label: string;
}

export interface Contender {
  tool: Tool;
  /** What this contender runs (in Markdown, with placeholders shortened). */
  shows: string;
  command(slot: Slot): Command;
  /** Untimed, before the run (skopeo: drop its blob-info cache). */
  before?(slot: Slot): Promise<void>;
  /** Untimed, after a successful run: a reason when the result is wrong. */
  verify?(slot: Slot): Promise<string | undefined>;
  /** Untimed, after every run: remove what it wrote. */
  cleanup?(slot: Slot): Promise<void>;
}

/** dray's median over another contender's median must be at most `max`: wall time, or CPU (user + system) when `cpu`. */
export interface Target {
  against: Tool;
  max: number;
  cpu?: boolean;
}

export interface BenchCase {
  /** The case at this round-trip time: `reg-reg-30`, or `reg-reg-30@20ms` behind the delay proxy. */
  id: string;
  /** The case's id on loopback. */
  baseId: string;
  /** Round-trip time the delay proxy adds in front of both registries (0: direct). */
  rttMs: number;
  title: string;
  contenders: Contender[];
  targets: Target[];
  /** The case copies the big layer (its memory is compared with the 30-layer case). */
  big?: boolean;
  /** The fewest sequential round trips the protocol allows for the case (a new connection's handshake included). */
  floorRoundTrips?: number;
}

export interface CaseContext {
  tools: Tools;
  /** The registries as the tools reach them: direct, or through the delay proxies. */
  src: RegistryHandle;
  dst: RegistryHandle;
  /** The round-trip time between the tools and the registries (0: loopback). */
  rttMs: number;
  work: string;
  images: BenchImages;
  /** The undici floor's bundle (floor.ts), beside `node -e ''` in the inspect cases. */
  undiciFloor?: string;
}

/**
 * Issue 17's targets (dray / skopeo or / node, medians): one on loopback, one
 * behind a round trip (the issue's figures are for 20 ms; they are applied at
 * any RTT the bench is given). Cases without one keep issue 7's, or none.
 */
function targetsAt(rttMs: number, loopback: Target[], withRtt: Target[]): Target[] {
  return rttMs > 0 ? withRtt : loopback;
}

const MANIFEST_ACCEPT = [MediaType.OciManifest, MediaType.OciIndex, MediaType.DockerManifest, MediaType.DockerManifestList].join(", ");

/** A registry destination holds `repo:tag` with the expected digest. */
async function checkRegistry(reg: RegistryHandle, repo: string, expected: Digest, tag = TAG): Promise<string | undefined> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, { method: "HEAD", headers: { accept: MANIFEST_ACCEPT } });
  if (res.status !== 200) return `destination ${repo}:${tag} answered ${res.status}`;
  const got = res.headers.get("docker-content-digest");
  return got === expected.toString() ? undefined : `destination digest ${got} ≠ source ${expected.toString()}`;
}

/** An OCI layout destination names `tag` with the expected digest. */
async function checkLayout(dir: string, expected: Digest): Promise<string | undefined> {
  try {
    const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as {
      manifests?: Array<{ digest?: string; annotations?: Record<string, string> }>;
    };
    const entry = index.manifests?.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === TAG);
    if (!entry) return `index.json has no entry named ${TAG}`;
    return entry.digest === expected.toString() ? undefined : `layout digest ${entry.digest} ≠ source ${expected.toString()}`;
  } catch (err) {
    return `cannot read the layout: ${(err as Error).message}`;
  }
}

/** Removes a repository (and the blobs it was given) from a registry's storage, so big runs do not fill the disk. */
async function purgeRepository(reg: RegistryHandle, repo: string, blobs: Digest[]): Promise<void> {
  const v2 = join(reg.storageDir, "docker", "registry", "v2");
  await rm(join(v2, "repositories", repo), { recursive: true, force: true });
  for (const d of blobs) await rm(join(v2, "blobs", d.algorithm, d.hex.slice(0, 2), d.hex), { recursive: true, force: true });
}

const docker = (reg: RegistryHandle, repo: string): string => `docker://${reg.host}/${repo}:${TAG}`;

/** A copy case between dray and skopeo; `dest(tool, slot)` names a fresh destination. */
function copyCase(
  ctx: CaseContext,
  spec: {
    id: string;
    title: string;
    src: string;
    dest: (tool: Tool, slot: Slot) => string;
    verify: (tool: Tool, slot: Slot) => Promise<string | undefined>;
    cleanup?: (tool: Tool, slot: Slot) => Promise<void>;
    skopeoExtra?: string[];
    targets: Target[];
    big?: boolean;
    extra?: Contender[];
    floorRoundTrips: number;
  },
): BenchCase {
  const show = (tool: Tool): string => spec.dest(tool, { label: "N" });
  const dray: Contender = {
    tool: "dray",
    shows: `dray copy -q ${spec.src} ${show("dray")}`,
    command: (slot) => drayCopy(ctx.tools, spec.src, spec.dest("dray", slot)),
    verify: (slot) => spec.verify("dray", slot),
    ...(spec.cleanup ? { cleanup: (slot: Slot) => spec.cleanup!("dray", slot) } : {}),
  };
  const skopeo: Contender = {
    tool: "skopeo",
    shows: `skopeo copy --quiet ${[...(spec.skopeoExtra ?? []), spec.src, show("skopeo")].join(" ")}`,
    command: (slot) => skopeoCopy(ctx.tools, spec.src, spec.dest("skopeo", slot), spec.skopeoExtra),
    before: dropSkopeoCache,
    verify: (slot) => spec.verify("skopeo", slot),
    ...(spec.cleanup ? { cleanup: (slot: Slot) => spec.cleanup!("skopeo", slot) } : {}),
  };
  return {
    ...caseIds(ctx, spec.id),
    title: spec.title,
    contenders: [dray, skopeo, ...(spec.extra ?? [])],
    targets: spec.targets,
    floorRoundTrips: spec.floorRoundTrips,
    ...(spec.big ? { big: true } : {}),
  };
}

/** The case's ids at the context's round-trip time. */
function caseIds(ctx: CaseContext, baseId: string): { id: string; baseId: string; rttMs: number } {
  return { id: ctx.rttMs > 0 ? `${baseId}@${ctx.rttMs}ms` : baseId, baseId, rttMs: ctx.rttMs };
}

function inspectCase(ctx: CaseContext, raw: boolean): BenchCase {
  const loc = docker(ctx.src, REPO_30);
  const flag = raw ? " --raw" : "";
  return {
    ...caseIds(ctx, raw ? "inspect-raw" : "inspect"),
    title: `inspect${flag} (registry, 30-layer image)`,
    contenders: [
      {
        tool: "dray",
        shows: `dray inspect${flag} ${loc}`,
        command: () => ctx.tools.dray(raw ? ["inspect", "--raw", loc] : ["inspect", loc]),
      },
      { tool: "skopeo", shows: `skopeo inspect${flag} --tls-verify=false ${loc}`, command: () => skopeoInspect(ctx.tools, loc, raw) },
      { tool: "node", shows: "node -e ''", command: () => ctx.tools.node(["-e", ""]) },
      ...undiciFloor(ctx, raw),
      ...exeContender(ctx, `inspect${flag} ${loc}`, raw ? ["inspect", "--raw", loc] : ["inspect", loc]),
    ],
    // Issue 31: start-up judged on CPU, which a loaded machine distorts less than wall time.
    targets: targetsAt(ctx.rttMs, [{ against: "node", max: 1.5, cpu: true }], raw ? [] : [{ against: "skopeo", max: 0.65 }]),
    // A connection, the manifest, then the config (--raw: the manifest only).
    floorRoundTrips: raw ? 2 : 3,
  };
}

/**
 * The floor under dray's start-up: undici alone, loaded as dray's bundle loads it and with dray's V8 flags, making
 * the same requests (bench/undici-floor.cts). What it costs over `node -e ''` no client built on undici can avoid.
 */
function undiciFloor(ctx: CaseContext, raw: boolean): Contender[] {
  const script = ctx.undiciFloor;
  if (!script) return [];
  const args = [...(raw ? ["--raw"] : []), ctx.src.url, REPO_30, TAG];
  return [{ tool: "undici", shows: `node undici-floor.cjs ${args.join(" ")}`, command: () => ctx.tools.node([script, ...args]) }];
}

/** The single executable (dist/dray-linux-x64, npm run build:exe) beside dray, when it is built. */
function exeContender(ctx: CaseContext, shows: string, args: string[]): Contender[] {
  const exe = ctx.tools.exe;
  return exe ? [{ tool: "exe", shows: `dray-linux-x64 ${shows}`, command: () => exe(args) }] : [];
}

/** Every case, in run order. The big-layer cases are left out when the bench runs without the big image. */
export function makeCases(ctx: CaseContext): BenchCase[] {
  const { src, dst, work, images } = ctx;
  // Fresh per round-trip time too: a run behind the proxy must not find what a loopback run wrote.
  const fresh =
    (caseId: string) =>
    (tool: Tool, slot: Slot): string =>
      `bench/${caseId}/${tool}-rtt${ctx.rttMs}-${slot.label.toLowerCase()}`;
  const layoutDir = (caseId: string, tool: Tool, slot: Slot): string => join(work, `${caseId}-${tool}-${slot.label}`);
  const rmLayout =
    (caseId: string) =>
    async (tool: Tool, slot: Slot): Promise<void> =>
      rm(layoutDir(caseId, tool, slot), { recursive: true, force: true });

  const cases: BenchCase[] = [
    copyCase(ctx, {
      id: "reg-reg-30",
      title: "registry → registry, 30 × 1 MiB layers, fresh repository",
      src: docker(src, REPO_30),
      dest: (t, s) => docker(dst, fresh("reg-reg-30")(t, s)),
      verify: (t, s) => checkRegistry(dst, fresh("reg-reg-30")(t, s), images.layers30),
      targets: targetsAt(ctx.rttMs, [{ against: "skopeo", max: 0.9 }], [{ against: "skopeo", max: 0.35 }]),
      // Connection, manifest GET, upload POST (blob GET beside it), blob PUT, manifest PUT.
      floorRoundTrips: 5,
    }),
    copyCase(ctx, {
      id: "reg-reg-index",
      title: "registry → registry, 3-platform index (4 × 3 MiB layers each), fresh repository",
      src: docker(src, REPO_INDEX),
      dest: (t, s) => docker(dst, fresh("reg-reg-index")(t, s)),
      verify: (t, s) => checkRegistry(dst, fresh("reg-reg-index")(t, s), images.index3),
      skopeoExtra: ["--all"],
      targets: targetsAt(ctx.rttMs, [{ against: "skopeo", max: 0.9 }], [{ against: "skopeo", max: 0.3 }]),
      // Connection, index GET, child manifest GETs, POST, blob PUT, child manifest PUTs, index PUT.
      floorRoundTrips: 7,
    }),
    copyCase(ctx, {
      id: "reg-oci",
      title: "registry → oci: layout, 30 × 1 MiB layers, fresh folder",
      src: docker(src, REPO_30),
      dest: (t, s) => `oci:${layoutDir("reg-oci", t, s)}:${TAG}`,
      verify: (t, s) => checkLayout(layoutDir("reg-oci", t, s), images.layers30),
      cleanup: rmLayout("reg-oci"),
      targets: targetsAt(ctx.rttMs, [{ against: "skopeo", max: 1.0 }], [{ against: "skopeo", max: 0.7 }]),
      // Connection, manifest GET, blob GETs.
      floorRoundTrips: 3,
    }),
    copyCase(ctx, {
      id: "oci-reg",
      title: "oci: layout → registry, 30 × 1 MiB layers, fresh repository",
      src: `oci:${images.layoutDir}:${TAG}`,
      dest: (t, s) => docker(dst, fresh("oci-reg")(t, s)),
      verify: (t, s) => checkRegistry(dst, fresh("oci-reg")(t, s), images.layers30),
      targets: targetsAt(ctx.rttMs, [{ against: "skopeo", max: 0.8 }], []),
      // Connection, upload POST (HEAD beside it), blob PUT, manifest PUT.
      floorRoundTrips: 4,
    }),
    copyCase(ctx, {
      id: "reg-docker-archive",
      title: "registry → docker-archive: (layers decompressed by both tools), 30 × 1 MiB layers, fresh file",
      src: docker(src, REPO_30),
      dest: (t, s) => `docker-archive:${join(work, `archive-${t}-${s.label}.tar`)}:bench/layers30:${TAG}`,
      verify: async (t, s) => {
        const st = await stat(join(work, `archive-${t}-${s.label}.tar`)).catch(() => undefined);
        return st && st.size >= images.layers30Bytes ? undefined : `archive missing or smaller than the image (${st?.size ?? 0} bytes)`;
      },
      cleanup: async (t, s) => rm(join(work, `archive-${t}-${s.label}.tar`), { force: true }),
      targets: targetsAt(ctx.rttMs, [{ against: "skopeo", max: 0.8 }], []),
      floorRoundTrips: 3,
    }),
    copyCase(ctx, {
      id: "recopy",
      title: "re-copy registry → registry, 30 × 1 MiB layers, destination already has everything",
      src: docker(src, REPO_30),
      dest: () => docker(dst, REPO_RECOPY),
      verify: () => checkRegistry(dst, REPO_RECOPY, images.layers30),
      targets: targetsAt(ctx.rttMs, [{ against: "skopeo", max: 0.9 }], [{ against: "skopeo", max: 0.3 }]),
      // Connection, then the source's manifest GET beside the destination's manifest HEAD: equal, done.
      floorRoundTrips: 2,
    }),
  ];

  const big = images.big;
  if (big) {
    const bigBlobs = [big.layerDigest];
    cases.push(
      copyCase(ctx, {
        id: "big-reg-reg",
        title: "registry → registry, one big incompressible layer, fresh repository",
        src: docker(src, REPO_BIG),
        dest: (t, s) => docker(dst, fresh("big-reg-reg")(t, s)),
        verify: (t, s) => checkRegistry(dst, fresh("big-reg-reg")(t, s), big.manifestDigest),
        cleanup: (t, s) => purgeRepository(dst, fresh("big-reg-reg")(t, s), bigBlobs),
        targets: [{ against: "skopeo", max: 0.9 }],
        floorRoundTrips: 5,
        big: true,
      }),
      copyCase(ctx, {
        id: "big-reg-oci",
        title: "registry → oci: layout, one big incompressible layer, fresh folder",
        src: docker(src, REPO_BIG),
        dest: (t, s) => `oci:${layoutDir("big-reg-oci", t, s)}:${TAG}`,
        verify: (t, s) => checkLayout(layoutDir("big-reg-oci", t, s), big.manifestDigest),
        cleanup: rmLayout("big-reg-oci"),
        targets: [
          { against: "curl", max: 1.1 },
          { against: "skopeo", max: 0.9 },
        ],
        big: true,
        extra: [curlLimit(ctx, big.layerDigest)],
        floorRoundTrips: 3,
      }),
    );
  }

  cases.push(inspectCase(ctx, false), inspectCase(ctx, true), ...syncCases(ctx));
  // Start-up talks to no registry: measured once, on loopback.
  if (ctx.rttMs > 0) return cases;
  cases.push({
    ...caseIds(ctx, "version"),
    title: "start-up: dray --version",
    contenders: [
      { tool: "dray", shows: "dray --version", command: () => ctx.tools.dray(["--version"]) },
      { tool: "node", shows: "node -e ''", command: () => ctx.tools.node(["-e", ""]) },
      { tool: "skopeo", shows: "skopeo --version", command: () => ctx.tools.skopeo(["--version"]) },
      ...exeContender(ctx, "--version", ["--version"]),
    ],
    targets: [],
  });
  return cases;
}

/** Where a tool's sync puts `repo` under `prefix`. */
function syncedRepo(tool: Tool, prefix: string, repo: string): string {
  // dray keeps the source path under the prefix; skopeo sync (without --scoped) keeps its last component.
  return tool === "skopeo" ? `${prefix}/${repo.slice(repo.lastIndexOf("/") + 1)}` : `${prefix}/${repo}`;
}

/** Every sync image is at the destination under `prefix`, with the source's digest. */
async function checkSync(ctx: CaseContext, tool: Tool, prefix: string): Promise<string | undefined> {
  for (const [ref, digest] of ctx.images.sync) {
    const [repo, tag] = ref.split(":") as [string, string];
    const problem = await checkRegistry(ctx.dst, syncedRepo(tool, prefix, repo), digest, tag);
    if (problem) return problem;
  }
  return undefined;
}

/**
 * dray sync and skopeo sync of SYNC_REPOS × SYNC_TAGS, each from a YAML file:
 * into a fresh prefix, and into one that holds everything already. Referrers
 * are off for dray: skopeo sync copies none, so both do the same work.
 */
function syncCases(ctx: CaseContext): BenchCase[] {
  const drayFile = join(ctx.work, "sync-dray.yaml");
  const skopeoFile = join(ctx.work, "sync-skopeo.yaml");
  const repos = SYNC_REPOS.map((r) => `      - ${r}`).join("\n");
  // The file's destination is required; --dest, given per run, wins.
  writeFileSync(
    drayFile,
    `referrers: false\ndestination: ${ctx.dst.host}/${SYNC_IDLE_PREFIX}\nsync:\n  - source: ${ctx.src.host}\n    repositories:\n${repos}\n`,
  );
  const tags = SYNC_REPOS.map((r) => `    ${r}: []`).join("\n");
  writeFileSync(skopeoFile, `${ctx.src.host}:\n  tls-verify: false\n  images:\n${tags}\n`);
  const freshPrefix = (tool: Tool, slot: Slot): string => `bench/sync-fresh/${tool}-rtt${ctx.rttMs}-${slot.label.toLowerCase()}`;
  const make = (
    baseId: string,
    title: string,
    prefix: (tool: Tool, slot: Slot) => string,
    floorRoundTrips: number,
    targets: Target[],
  ): BenchCase => ({
    ...caseIds(ctx, baseId),
    title,
    contenders: [
      {
        tool: "dray",
        shows: `dray sync -q sync-dray.yaml --dest ${ctx.dst.host}/${prefix("dray", { label: "N" })}`,
        command: (slot) => ctx.tools.dray(["sync", "-q", drayFile, "--dest", `${ctx.dst.host}/${prefix("dray", slot)}`]),
        verify: (slot) => checkSync(ctx, "dray", prefix("dray", slot)),
      },
      {
        tool: "skopeo",
        shows: `skopeo sync --src yaml --dest docker --dest-tls-verify=false sync-skopeo.yaml ${ctx.dst.host}/${prefix("skopeo", { label: "N" })}`,
        command: (slot) =>
          ctx.tools.skopeo([
            "sync",
            "--src",
            "yaml",
            "--dest",
            "docker",
            "--dest-tls-verify=false",
            skopeoFile,
            `${ctx.dst.host}/${prefix("skopeo", slot)}`,
          ]),
        before: dropSkopeoCache,
        verify: (slot) => checkSync(ctx, "skopeo", prefix("skopeo", slot)),
      },
    ],
    targets,
    floorRoundTrips,
  });
  const idle = (tool: Tool): string => (tool === "skopeo" ? `${SYNC_IDLE_PREFIX}-skopeo` : SYNC_IDLE_PREFIX);
  return [
    make(
      "sync-fresh",
      `sync of ${SYNC_REPOS.length} repositories × ${SYNC_TAGS.length} tags (shared base layers), fresh destination prefix`,
      freshPrefix,
      // Connection, tag lists, manifest GETs, upload POSTs, blob PUTs, manifest PUTs.
      6,
      targetsAt(ctx.rttMs, [{ against: "skopeo", max: 0.7 }], [{ against: "skopeo", max: 0.12 }]),
    ),
    // Connection, tag lists, then the source's and destination's manifest HEADs side by side.
    make("sync-idle", "sync again with nothing to do (every image already at the destination)", idle, 3, []),
  ];
}

/** The physical limit of reading the blob: curl into sha256sum, checked against the digest. */
function curlLimit(ctx: CaseContext, digest: Digest): Contender {
  const url = `${ctx.src.url}/v2/${REPO_BIG}/blobs/${digest.toString()}`;
  const script = `h=$(curl -sSf ${url} | sha256sum) && [ "\${h%% *}" = ${digest.hex} ]`;
  return { tool: "curl", shows: `curl -s URL/v2/${REPO_BIG}/blobs/DIGEST \\| sha256sum`, command: () => ctx.tools.sh(script) };
}
