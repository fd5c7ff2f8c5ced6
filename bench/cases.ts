// The benchmark cases of issue 7: what each contender runs, where each run
// writes (a fresh repository or folder per run), how a run is checked
// (untimed), and the issue's target for the case.
import { readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Digest } from "../src/oci/digest.js";
import { MediaType } from "../src/oci/mediatype.js";
import type { RegistryHandle } from "../test/helpers/registry.js";
import { REPO_30, REPO_BIG, REPO_INDEX, REPO_RECOPY, TAG, type BenchImages } from "./images.js";
import type { Command } from "./measure.js";
import { dropSkopeoCache, drayCopy, skopeoCopy, skopeoInspect, type Tools } from "./tools.js";

export type Tool = "dray" | "skopeo" | "node" | "curl";

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

/** dray's median over another contender's median must be at most `max`. */
export interface Target {
  against: Tool;
  max: number;
}

export interface BenchCase {
  id: string;
  title: string;
  contenders: Contender[];
  targets: Target[];
  /** The case copies the big layer (its memory is compared with the 30-layer case). */
  big?: boolean;
}

export interface CaseContext {
  tools: Tools;
  src: RegistryHandle;
  dst: RegistryHandle;
  work: string;
  images: BenchImages;
}

const MANIFEST_ACCEPT = [MediaType.OciManifest, MediaType.OciIndex, MediaType.DockerManifest, MediaType.DockerManifestList].join(", ");

/** A registry destination holds `repo:tag` with the expected digest. */
async function checkRegistry(reg: RegistryHandle, repo: string, expected: Digest): Promise<string | undefined> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${TAG}`, { method: "HEAD", headers: { accept: MANIFEST_ACCEPT } });
  if (res.status !== 200) return `destination ${repo}:${TAG} answered ${res.status}`;
  const got = res.headers.get("docker-content-digest");
  return got === expected.toString() ? undefined : `destination digest ${got} ≠ source ${expected.toString()}`;
}

/** An OCI layout destination names `tag` with the expected digest. */
async function checkLayout(dir: string, expected: Digest): Promise<string | undefined> {
  try {
    const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as { manifests?: Array<{ digest?: string; annotations?: Record<string, string> }> };
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
  return { id: spec.id, title: spec.title, contenders: [dray, skopeo, ...(spec.extra ?? [])], targets: spec.targets, ...(spec.big ? { big: true } : {}) };
}

function inspectCase(ctx: CaseContext, raw: boolean): BenchCase {
  const loc = docker(ctx.src, REPO_30);
  const flag = raw ? " --raw" : "";
  return {
    id: raw ? "inspect-raw" : "inspect",
    title: `inspect${flag} (registry, 30-layer image)`,
    contenders: [
      { tool: "dray", shows: `dray inspect${flag} ${loc}`, command: () => ctx.tools.dray(raw ? ["inspect", "--raw", loc] : ["inspect", loc]) },
      { tool: "skopeo", shows: `skopeo inspect${flag} --tls-verify=false ${loc}`, command: () => skopeoInspect(ctx.tools, loc, raw) },
      { tool: "node", shows: "node -e ''", command: () => ctx.tools.node(["-e", ""]) },
    ],
    targets: [{ against: "node", max: 2 }],
  };
}

/** Every case, in run order. The big-layer cases are left out when the bench runs without the big image. */
export function makeCases(ctx: CaseContext): BenchCase[] {
  const { src, dst, work, images } = ctx;
  const fresh = (caseId: string) => (tool: Tool, slot: Slot): string => `bench/${caseId}/${tool}-${slot.label.toLowerCase()}`;
  const layoutDir = (caseId: string, tool: Tool, slot: Slot): string => join(work, `${caseId}-${tool}-${slot.label}`);
  const rmLayout = (caseId: string) => async (tool: Tool, slot: Slot): Promise<void> => rm(layoutDir(caseId, tool, slot), { recursive: true, force: true });

  const cases: BenchCase[] = [
    copyCase(ctx, {
      id: "reg-reg-30",
      title: "registry → registry, 30 × 1 MiB layers, fresh repository",
      src: docker(src, REPO_30),
      dest: (t, s) => docker(dst, fresh("reg-reg-30")(t, s)),
      verify: (t, s) => checkRegistry(dst, fresh("reg-reg-30")(t, s), images.layers30),
      targets: [{ against: "skopeo", max: 0.7 }],
    }),
    copyCase(ctx, {
      id: "reg-reg-index",
      title: "registry → registry, 3-platform index (4 × 3 MiB layers each), fresh repository",
      src: docker(src, REPO_INDEX),
      dest: (t, s) => docker(dst, fresh("reg-reg-index")(t, s)),
      verify: (t, s) => checkRegistry(dst, fresh("reg-reg-index")(t, s), images.index3),
      skopeoExtra: ["--all"],
      targets: [{ against: "skopeo", max: 0.7 }],
    }),
    copyCase(ctx, {
      id: "reg-oci",
      title: "registry → oci: layout, 30 × 1 MiB layers, fresh folder",
      src: docker(src, REPO_30),
      dest: (t, s) => `oci:${layoutDir("reg-oci", t, s)}:${TAG}`,
      verify: (t, s) => checkLayout(layoutDir("reg-oci", t, s), images.layers30),
      cleanup: rmLayout("reg-oci"),
      targets: [{ against: "skopeo", max: 0.8 }],
    }),
    copyCase(ctx, {
      id: "oci-reg",
      title: "oci: layout → registry, 30 × 1 MiB layers, fresh repository",
      src: `oci:${images.layoutDir}:${TAG}`,
      dest: (t, s) => docker(dst, fresh("oci-reg")(t, s)),
      verify: (t, s) => checkRegistry(dst, fresh("oci-reg")(t, s), images.layers30),
      targets: [{ against: "skopeo", max: 0.8 }],
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
      targets: [{ against: "skopeo", max: 0.8 }],
    }),
    copyCase(ctx, {
      id: "recopy",
      title: "re-copy registry → registry, 30 × 1 MiB layers, destination already has everything",
      src: docker(src, REPO_30),
      dest: () => docker(dst, REPO_RECOPY),
      verify: () => checkRegistry(dst, REPO_RECOPY, images.layers30),
      targets: [{ against: "skopeo", max: 1.0 }],
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
      }),
    );
  }

  cases.push(inspectCase(ctx, false), inspectCase(ctx, true), {
    id: "version",
    title: "start-up: dray --version",
    contenders: [
      { tool: "dray", shows: "dray --version", command: () => ctx.tools.dray(["--version"]) },
      { tool: "node", shows: "node -e ''", command: () => ctx.tools.node(["-e", ""]) },
      { tool: "skopeo", shows: "skopeo --version", command: () => ctx.tools.skopeo(["--version"]) },
    ],
    targets: [],
  });
  return cases;
}

/** The physical limit of reading the blob: curl into sha256sum, checked against the digest. */
function curlLimit(ctx: CaseContext, digest: Digest): Contender {
  const url = `${ctx.src.url}/v2/${REPO_BIG}/blobs/${digest.toString()}`;
  const script = `h=$(curl -sSf ${url} | sha256sum) && [ "\${h%% *}" = ${digest.hex} ]`;
  return { tool: "curl", shows: `curl -s URL/v2/${REPO_BIG}/blobs/DIGEST \\| sha256sum`, command: () => ctx.tools.sh(script) };
}
