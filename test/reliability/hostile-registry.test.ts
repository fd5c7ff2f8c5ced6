// A hostile registry (issue 26 items 3, 5 and 7): a small server of the
// tests' own (test/helpers/hostile-registry.ts) serves what no real registry
// would store, and counts what dray asks:
//  - index fan-out: an index naming one child index thousands of times, which
//    names one image thousands of times (each distinct digest must be fetched
//    and planned once; indexes past the caps are refused);
//  - an endless chain of tag pages (`Link` to a new page, forever);
//  - escape sequences in names an image or the registry supplies (file names
//    and link targets in layers, tags, a Link header), which must reach the
//    terminal quoted.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { Digest } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/mediatype.js";
import { buildImage, type BuiltImage } from "../helpers/fixtures.js";
import { startHostileRegistry, type HostileRegistry } from "../helpers/hostile-registry.js";
import { onPty } from "../helpers/pty.js";
import { makeTempDir } from "../helpers/tmp.js";
import { join } from "node:path";
import { assertNoSecretsPrinted, caseIt, lastLine, layoutState, run, startResults } from "./support.js";

startResults(import.meta.url);

let reg: HostileRegistry;
let work: string;
let img: BuiltImage;

function serveImage(repo: string, image: BuiltImage, tag?: string): { digest: string; size: number } {
  for (const b of [image.config, ...image.layers]) reg.blob(repo, b.bytes);
  const d = reg.manifest(repo, image.manifest.bytes, image.manifest.mediaType, tag);
  return { digest: d.toString(), size: image.manifest.bytes.length };
}

/** An OCI index naming `child` `times` times (annotations make otherwise equal indexes distinct). */
function indexOf(child: { digest: string; size: number }, mediaType: string, times: number, annotations?: Record<string, string>): Buffer {
  const entry = { mediaType, digest: child.digest, size: child.size, platform: { os: "linux", architecture: "amd64" } };
  return Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: Array.from({ length: times }, () => entry), annotations }),
  );
}

/** Serves top → child index → image, each index naming its child `times` times. */
function fanOut(repo: string, times: number): void {
  const image = serveImage(repo, img);
  const child = indexOf(image, MediaType.OciManifest, times);
  const childDigest = reg.manifest(repo, child, MediaType.OciIndex).toString();
  reg.manifest(repo, indexOf({ digest: childDigest, size: child.length }, MediaType.OciIndex, times), MediaType.OciIndex, "v1");
}

before(async () => {
  reg = await startHostileRegistry();
  work = makeTempDir("dray-rel-hostile-reg-");
  img = await buildImage({ seed: "hostile-registry", layerCount: 2 });
});

describe("index fan-out", () => {
  caseIt(
    "hostile-registry",
    "index naming a child index 1000 times, which names one image 1000 times",
    "GET /manifests/v1: an index of 1000 × the same child index, which lists the same image 1000 times (10^6 paths to one image)",
    async () => {
      fanOut("fan/small", 1000);
      const before = reg.requests.length;
      const r = await run(["copy", `docker://${reg.host}/fan/small:v1`, `oci:${join(work, "fan-small")}:v1`], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      const asked = reg.requests.slice(before);
      const manifestGets = asked.filter((q) => q.startsWith("GET") && q.includes("/manifests/")).length;
      const blobGets = asked.filter((q) => q.startsWith("GET") && q.includes("/blobs/")).length;
      assert.equal(manifestGets, 3, `manifest GETs: ${manifestGets}`);
      assert.equal(blobGets, 3, `blob GETs: ${blobGets}`);
      assert.ok((await layoutState(join(work, "fan-small"))).refs.v1);
      return `exit 0; ${manifestGets} manifest GETs (top, child, image) and ${blobGets} blob GETs: each distinct digest once`;
    },
  );

  caseIt(
    "hostile-registry",
    "index naming a child index 15 000 times, which names one image 15 000 times",
    "GET /manifests/v1: a 2.7 MB index of 15 000 × the same child index, which lists the same image 15 000 times",
    async () => {
      fanOut("fan/big", 15_000);
      const before = reg.requests.length;
      const started = Date.now();
      const r = await run(["copy", `docker://${reg.host}/fan/big:v1`, `oci:${join(work, "fan-big")}:v1`], { timeoutMs: 60_000 });
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const asked = reg.requests.slice(before).length;
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, /lists 15000 manifests, more than the 4096 dray accepts in one index/);
      assert.ok(asked <= 3, `${asked} requests`);
      return `exit 5 in ${seconds} s after ${asked} request(s): "${lastLine(r.stderr)}"`;
    },
  );

  caseIt(
    "hostile-registry",
    "five distinct child indexes of 4000 entries each",
    "an index of 5 child indexes (distinct annotations), each listing one image 4000 times: 20 005 entries in one copy",
    async () => {
      const image = serveImage("fan/wide", img);
      const children = Array.from({ length: 5 }, (_, i) => {
        const bytes = indexOf(image, MediaType.OciManifest, 4000, { n: String(i) });
        return { digest: reg.manifest("fan/wide", bytes, MediaType.OciIndex).toString(), size: bytes.length };
      });
      const top = {
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: children.map((c) => ({ mediaType: MediaType.OciIndex, ...c })),
      };
      reg.manifest("fan/wide", Buffer.from(JSON.stringify(top)), MediaType.OciIndex, "v1");
      const r = await run(["copy", `docker://${reg.host}/fan/wide:v1`, `oci:${join(work, "fan-wide")}:v1`], { timeoutMs: 60_000 });
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, /list more than 16384 manifests in all/);
      assert.equal((await layoutState(join(work, "fan-wide"))).exists, false, "a layout was left behind");
      return `exit 5: "${lastLine(r.stderr)}"`;
    },
  );
  caseIt(
    "hostile-registry",
    "dray index create from an index naming one image 1000 times",
    "GET /manifests/v1: an index listing the same image 1000 times, as a source of dray index create (each distinct child read once)",
    async () => {
      const image = serveImage("fan/idx-small", img);
      reg.manifest("fan/idx-small", indexOf(image, MediaType.OciManifest, 1000), MediaType.OciIndex, "v1");
      const before = reg.count(`GET /v2/fan/idx-small/manifests/${image.digest}`);
      const r = await run(["index", "create", `oci:${join(work, "idx-small")}:v1`, `docker://${reg.host}/fan/idx-small:v1`], {
        timeoutMs: 60_000,
      });
      // Refused (one platform twice), but only after the image was read once, not 1000 times.
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /two images for linux\/amd64/);
      const gets = reg.count(`GET /v2/fan/idx-small/manifests/${image.digest}`) - before;
      assert.ok(gets <= 2, `the image was read ${gets} times`);
      return `exit 2, the image read ${gets} time(s): "${lastLine(r.stderr)}"`;
    },
  );
  caseIt(
    "hostile-registry",
    "dray index create from an index of 15 000 entries",
    "GET /manifests/v1: the 15 000 × 15 000 fan-out, as a source of dray index create",
    async () => {
      fanOut("fan/idx", 15_000);
      const before = reg.requests.length;
      const r = await run(["index", "create", `oci:${join(work, "idx-big")}:v1`, `docker://${reg.host}/fan/idx:v1`], { timeoutMs: 60_000 });
      const asked = reg.requests.length - before;
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, /lists 15000 manifests, more than the 4096/);
      assert.ok(asked < 10, `${asked} requests`);
      assert.equal((await layoutState(join(work, "idx-big"))).exists, false, "a layout was left behind");
      return `exit 5 after ${asked} request(s): "${lastLine(r.stderr)}"`;
    },
  );
});

describe("endless tag pages", () => {
  caseIt(
    "hostile-registry",
    "a Link chain of new tag pages that never ends",
    "GET /tags/list: every page holds 10 000 new tags (~300 KB) and a Link to the next page, forever; dray ls",
    async () => {
      reg.tagPages("pages/img", (url) => {
        const n = Number(url.searchParams.get("page") ?? "0");
        const tags = Array.from({ length: 10_000 }, (_, i) => `t-${n}-${i}-${"x".repeat(12)}`);
        return { body: JSON.stringify({ name: "pages/img", tags }), link: `</v2/pages/img/tags/list?page=${n + 1}>; rel="next"` };
      });
      const before = reg.count("/pages/img/tags/list");
      const started = Date.now();
      const r = await run(["ls", `docker://${reg.host}/pages/img`], { timeoutMs: 90_000 });
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const pages = reg.count("/pages/img/tags/list") - before;
      assert.equal(r.code, 1, r.stderr.slice(-500));
      assert.match(r.stderr, /tag list of docker:\/\/127\.0\.0\.1:\d+\/pages\/img is longer than dray reads/);
      assert.equal(r.stdout, "", "a partial list was printed");
      return `exit 1 in ${seconds} s after ${pages} pages: "${lastLine(r.stderr)}"`;
    },
    { timeout: 120_000 },
  );
});

describe("escape sequences from the image and the registry", () => {
  const ESC_NAME = "\u001b]0;pwned\u0007\u001b[2Jevil";
  const CSI_TARGET = "\u009b31mred\u202egnp.exe";

  before(async () => {
    const hostile = await buildImage({
      seed: "escapes",
      layerFiles: [
        [
          { path: ESC_NAME, content: "x" },
          { path: "to-file", type: "symlink", linkname: ESC_NAME },
          { path: "hl", type: "link", linkname: CSI_TARGET },
        ],
      ],
    });
    serveImage("esc/img", hostile, "v1");
    const labelled = await buildImage({ seed: "escapes-labels", labels: { [`k${ESC_NAME}`]: CSI_TARGET, evil: CSI_TARGET } });
    serveImage("esc/labels", labelled, "v1");
    reg.tagPages("esc/labels", () => ({ body: JSON.stringify({ name: "esc/labels", tags: ["v1"] }) }));
    reg.tagPages("esc/img", () => ({ body: JSON.stringify({ name: "esc/img", tags: ["v1", "\u001b[31mred", "ok\u009bx"] }) }));
    reg.tagPages("esc/link", () => ({ body: JSON.stringify({ name: "esc/link", tags: ["a"] }), link: "\u009b2J\u009b31m next page" }));
  });

  // eslint-disable-next-line no-control-regex -- the raw control characters are what must not appear
  const raw = /[\u001b\u0007\u009b\u202e]/;

  caseIt(
    "hostile-registry",
    "escape sequences in names and link targets, in cat's error",
    "a layer with a file named ESC ] 0;pwned BEL ESC [2J evil and a link to it; dray cat IMG /to-file/x (a path through the file)",
    async () => {
      const r = await run(["cat", `docker://${reg.host}/esc/img:v1`, "/to-file/x"]);
      assert.equal(r.code, 3, r.stderr);
      assert.doesNotMatch(r.stderr, raw, "a raw control character reached stderr");
      assert.match(r.stderr, /\\u001b\]0;pwned\\u0007\\u001b\[2Jevil/);
      return `exit 3: ${JSON.stringify(lastLine(r.stderr))} (as printed, escapes quoted)`;
    },
  );

  caseIt(
    "hostile-registry",
    "escape sequences in a hard link's names, in export's notice",
    "a layer whose hard link hl points at CSI 31m red RLO gnp.exe, a name no layer holds; dray export -o FILE",
    async () => {
      const r = await run(["export", `docker://${reg.host}/esc/img:v1`, "-o", join(work, "esc.tar")]);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, raw, "a raw control character reached stderr");
      assert.match(r.stderr, /hard link hl points to "\\u009b31mred\\u202egnp\.exe", which no layer holds/);
      return `exit 0; notice: ${JSON.stringify(r.stderr.split("\n").find((l) => l.includes("hard link")))}`;
    },
  );

  caseIt(
    "hostile-registry",
    "escape sequences in tags, in dray ls",
    "GET /tags/list answers v1, ESC [31m red and ok CSI x; dray ls",
    async () => {
      const r = await run(["ls", `docker://${reg.host}/esc/img`]);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, raw, "a raw control character reached stdout");
      // Sorted by bytes (ls sorts every list): ESC (0x1b) and "o" come before "v".
      assert.equal(r.stdout, '"\\u001b[31mred"\n"ok\\u009bx"\nv1\n');
      const json = await run(["ls", "--format", "json", `docker://${reg.host}/esc/img`]);
      assert.doesNotMatch(json.stdout, raw);
      assert.deepEqual((JSON.parse(json.stdout) as { Tags: string[] }).Tags, ["\u001b[31mred", "ok\u009bx", "v1"]);
      return `exit 0; ${JSON.stringify(r.stdout)}; --format json escapes them too and still parses to the same tags`;
    },
  );

  caseIt(
    "hostile-registry",
    "escape sequences in labels, through --format json and templates",
    "a config label named k ESC ] 0;pwned BEL ESC [2J evil with the value CSI 31m red RLO gnp.exe; dray inspect --format json, '{{json .Labels}}', '{{printf \"%q\" .Labels.evil}}' into a pipe, '{{.Labels}}' on a terminal",
    async () => {
      const loc = `docker://${reg.host}/esc/labels:v1`;
      const labels = (out: string): unknown => (JSON.parse(out) as Record<string, unknown>)[`k${ESC_NAME}`];
      const json = await run(["inspect", "--format", "json", loc]);
      assert.equal(json.code, 0, json.stderr);
      assert.doesNotMatch(json.stdout, raw, "a raw control character reached stdout");
      assert.equal((JSON.parse(json.stdout) as { Labels: Record<string, string> }).Labels[`k${ESC_NAME}`], CSI_TARGET);
      const tjson = await run(["inspect", "--format", "{{json .Labels}}", loc]);
      assert.equal(tjson.code, 0, tjson.stderr);
      assert.doesNotMatch(tjson.stdout, raw, "a raw control character reached stdout through {{json}}");
      assert.equal(labels(tjson.stdout), CSI_TARGET);
      const q = await run(["inspect", "--format", `{{printf "%q" .Labels.evil}}`, loc]);
      assert.equal(q.code, 0, q.stderr);
      assert.doesNotMatch(q.stdout, raw, "a raw control character reached stdout through %q");
      assert.equal(JSON.parse(q.stdout), CSI_TARGET);
      // Into a pipe a plain template prints the label as it is (scripts get the data); on a terminal it is escaped.
      const piped = await run(["inspect", "--format", "{{.Labels}}", loc]);
      assert.ok(piped.stdout.includes(CSI_TARGET), piped.stdout);
      const tty = await onPty(["inspect", "--format", "{{.Labels}}", loc]);
      assert.equal(tty.code, 0, tty.raw);
      assert.doesNotMatch(tty.raw, raw, "a raw control character reached the terminal");
      assert.match(tty.raw, /\\u009b31mred\\u202egnp\.exe/);
      return `exit 0; json, {{json}} and %q escape C1 and bidi marks and parse to the same label; on a terminal {{.Labels}} printed ${JSON.stringify(tty.raw.trim().slice(0, 90))}`;
    },
  );

  caseIt(
    "hostile-registry",
    "escape sequences in raw JSON on a terminal (inspect --raw, blob)",
    "the same image's config (label value CSI 31m red RLO gnp.exe, raw in the JSON as JSON allows); dray inspect --config --raw and dray blob CONFIG on a terminal, and dray blob into a pipe",
    async () => {
      const loc = `docker://${reg.host}/esc/labels:v1`;
      const config = (JSON.parse((await run(["inspect", "--raw", loc])).stdout) as { config: { digest: string } }).config.digest;
      for (const args of [
        ["inspect", "--config", "--raw", loc],
        ["blob", loc, config],
      ]) {
        const tty = await onPty(args);
        assert.equal(tty.code, 0, tty.raw);
        assert.doesNotMatch(tty.raw, raw, `a raw control character reached the terminal (dray ${args[0]})`);
        assert.match(tty.raw, /\\u009b31mred\\u202egnp\.exe/);
      }
      const piped = await run(["blob", loc, config]);
      assert.equal(piped.code, 0, piped.stderr);
      assert.ok(piped.stdout.includes(CSI_TARGET), "into a pipe the blob must stay its bytes");
      return "exit 0; on a terminal both print the JSON with \\u009b and \\u202e escaped (the same document); into a pipe the blob's bytes as they are";
    },
  );

  caseIt(
    "hostile-registry",
    "8-bit CSI in a Link header, in the incomplete-list warning",
    "GET /tags/list with Link: CSI 2J CSI 31m next page (malformed, C1 controls as obs-text bytes); dray ls",
    async () => {
      const r = await run(["ls", `docker://${reg.host}/esc/link`]);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, raw, "a raw control character reached stderr");
      assert.match(r.stderr, /may be incomplete: its Link header is malformed \("\\u009b2J\\u009b31m next page"\)/);
      return `exit 0; ${JSON.stringify(lastLine(r.stderr))}`;
    },
  );
});

describe("redirects a hostile registry sends", () => {
  caseIt(
    "hostile-registry",
    "a blob GET redirected to itself forever, or to a file: URL",
    "GET /blobs/CONFIG answers 307 Location: the same path (a loop); in another repository 307 Location: file:///etc/passwd; dray blob IMG CONFIG",
    async () => {
      const image = await buildImage({ seed: "redirects" });
      const config = image.config.digest.toString();
      serveImage("redir/loop", image, "v1");
      reg.redirectBlob("redir/loop", config, `/v2/redir/loop/blobs/${config}`);
      serveImage("redir/file", image, "v1");
      reg.redirectBlob("redir/file", config, "file:///etc/passwd");
      const before = reg.count(`GET /v2/redir/loop/blobs/${config}`);
      const loop = await run(["blob", `docker://${reg.host}/redir/loop:v1`, config]);
      const gets = reg.count(`GET /v2/redir/loop/blobs/${config}`) - before;
      assert.equal(loop.code, 1, loop.stderr);
      assert.match(loop.stderr, /was redirected more than 5 times \(a redirect loop\?\)/);
      assert.ok(gets <= 6, `${gets} GETs`);
      const file = await run(["blob", `docker://${reg.host}/redir/file:v1`, config]);
      assert.equal(file.code, 1, file.stderr);
      assert.match(file.stderr, /was redirected to a file: location, which dray does not follow/);
      return `exit 1 after ${gets} GETs: ${JSON.stringify(lastLine(loop.stderr))}; file: ${JSON.stringify(lastLine(file.stderr))}`;
    },
  );
});

describe("referrer fan-out", () => {
  const SCAN = "application/vnd.example.scan+text";
  const EMPTY = Buffer.from("{}");
  type Desc = { mediaType: string; digest: string; size: number; artifactType?: string; annotations?: Record<string, string> };
  const served = new Map<string, Desc>();

  function referrersIndex(descs: readonly Desc[]): Buffer {
    return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: descs }));
  }

  /** A real OCI 1.1 artifact in `repo` whose subject is `subject` (served, so it can be copied). */
  function artifact(repo: string, subject: string, seed: string): Desc {
    const empty = { mediaType: MediaType.OciEmpty, digest: reg.blob(repo, EMPTY).toString(), size: EMPTY.length };
    const s = served.get(subject)!;
    const annotations = { "org.example.seed": seed };
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        artifactType: SCAN,
        config: empty,
        layers: [empty],
        subject: { mediaType: s.mediaType, digest: s.digest, size: s.size },
        annotations,
      }),
    );
    const d: Desc = {
      mediaType: MediaType.OciManifest,
      digest: reg.manifest(repo, bytes, MediaType.OciManifest).toString(),
      size: bytes.length,
    };
    served.set(d.digest, d);
    return { ...d, artifactType: SCAN, annotations };
  }

  /** A listed referrer that is not there: its digest made from `seed`. */
  function phantom(seed: string): Desc {
    return {
      mediaType: MediaType.OciManifest,
      digest: Digest.of(Buffer.from(seed)).toString(),
      size: 100,
      artifactType: SCAN,
      annotations: { seed },
    };
  }

  function subjectIn(repo: string): string {
    const top = serveImage(repo, img, "v1");
    reg.tagPages(repo, () => ({ body: JSON.stringify({ name: repo, tags: ["v1"] }) }));
    served.set(top.digest, { ...top, mediaType: img.manifest.mediaType });
    return top.digest;
  }

  caseIt(
    "hostile-registry",
    "the referrers API lists 5000 referrers of one image",
    "GET /referrers/<digest>: an index of 5000 manifests that are not there",
    async () => {
      const top = subjectIn("refs/huge");
      reg.referrers("refs/huge", (d) => referrersIndex(d === top ? Array.from({ length: 5000 }, (_, i) => phantom(`huge-${i}`)) : []));
      const before = reg.count("GET /v2/refs/huge/manifests/");
      const c = await run(["copy", "--referrers", `docker://${reg.host}/refs/huge:v1`, `oci:${join(work, "refs-huge")}:v1`]);
      assert.equal(c.code, 1, c.stderr);
      assert.match(c.stderr, /has 5000 referrers, more than the 1000 dray reads for one image/);
      const gets = reg.count("GET /v2/refs/huge/manifests/") - before;
      assert.ok(gets <= 2, `${gets} manifest GETs`);
      // The image arrived: its JSON summary is on stdout, the failed list in it, though the run exits 1.
      const j = await run([
        "copy",
        "--referrers",
        "--format",
        "json",
        `docker://${reg.host}/refs/huge:v1`,
        `oci:${join(work, "refs-huge")}:v1`,
      ]);
      assert.equal(j.code, 1, j.stderr);
      const summary = JSON.parse(j.stdout) as { Digest: string; Referrers: { Failed: number; Items: { Kind: string; Subject: string }[] } };
      assert.equal(summary.Digest, top);
      assert.equal(summary.Referrers.Failed, 1);
      assert.deepEqual(
        summary.Referrers.Items.map((i) => [i.Kind, i.Subject]),
        [["list", top]],
      );
      // sync's failure list names the repository once (it was said twice: the error names it already).
      const s = await run(["sync", `${reg.host}/refs/huge`, `oci:${join(work, "refs-huge-sync")}`]);
      assert.equal(s.code, 1, s.stderr);
      const failed = s.stderr.split("\n").filter((l) => l.startsWith("  failed: "));
      assert.deepEqual(failed, [
        `  failed: docker://${reg.host}/refs/huge: ${top} has 5000 referrers, more than the 1000 dray reads for one image`,
      ]);
      const t = await run(["referrers", `docker://${reg.host}/refs/huge:v1`]);
      assert.equal(t.code, 5, t.stderr);
      assert.match(t.stderr, /has 5000 referrers, more than the 1000 dray reads for one image/);
      return `copy --referrers exit 1 after ${gets} manifest GETs: ${JSON.stringify(c.stderr.split("\n").find((l) => l.includes("5000")))}; referrers exit 5`;
    },
  );

  caseIt(
    "hostile-registry",
    "an endless chain of referrers of referrers",
    "GET /referrers/<digest>: for every digest asked, a new artifact whose subject is that digest (served)",
    async () => {
      const top = subjectIn("refs/chain");
      reg.referrers("refs/chain", (d) => (served.has(d) ? referrersIndex([artifact("refs/chain", d, `chain-${d}`)]) : undefined));
      const before = reg.count("GET /v2/refs/chain/referrers/");
      const c = await run(["copy", "--referrers", `docker://${reg.host}/refs/chain:v1`, `oci:${join(work, "refs-chain")}:v1`]);
      const asked = reg.count("GET /v2/refs/chain/referrers/") - before;
      assert.equal(c.code, 1, c.stderr);
      assert.match(c.stderr, /has referrers 9 levels below the image; dray follows referrers of referrers 8 levels deep/);
      assert.equal(c.stderr.match(/^referrer sha256:\S+ \(application\/vnd\.example\.scan\+text\): copied$/gm)?.length, 8, c.stderr);
      assert.equal(asked, 9);
      const t = await run(["referrers", `docker://${reg.host}/refs/chain:v1`]);
      assert.equal(t.code, 5, t.stderr);
      assert.match(t.stderr, /levels below the image; dray follows 8 unless --depth N says more/);
      const deeper = await run(["referrers", "--depth", "12", `docker://${reg.host}/refs/chain:v1`]);
      assert.equal(deeper.code, 0, deeper.stderr);
      assert.equal(deeper.stdout.trim().split("\n").length, 12);
      assert.ok(served.has(top));
      return `copy --referrers exit 1 after ${asked} referrers requests, 8 levels copied; referrers exit 5, --depth 12 lists 12`;
    },
  );

  caseIt(
    "hostile-registry",
    "referrers that list each other (a cycle)",
    "GET /referrers/<digest>: the image lists A, A lists B, B lists A",
    async () => {
      const top = subjectIn("refs/cycle");
      const a = artifact("refs/cycle", top, "cycle-a");
      const b = artifact("refs/cycle", top, "cycle-b");
      const lists: Record<string, Desc[]> = { [top]: [a], [a.digest]: [b], [b.digest]: [a] };
      reg.referrers("refs/cycle", (d) => referrersIndex(lists[d] ?? []));
      const before = reg.count("GET /v2/refs/cycle/referrers/");
      const c = await run(["copy", "--referrers", `docker://${reg.host}/refs/cycle:v1`, `oci:${join(work, "refs-cycle")}:v1`]);
      const asked = reg.count("GET /v2/refs/cycle/referrers/") - before;
      assert.equal(c.code, 0, c.stderr);
      assert.equal(asked, 3);
      const t = await run(["referrers", `docker://${reg.host}/refs/cycle:v1`]);
      assert.equal(t.code, 0, t.stderr);
      assert.deepEqual(
        t.stdout
          .trim()
          .split("\n")
          .map((l) => l.split("\t")[0]),
        [a.digest, b.digest],
      );
      return `copy --referrers exit 0 after ${asked} referrers requests; referrers lists A and B once each`;
    },
  );

  caseIt(
    "hostile-registry",
    "1000 referrers of each referrer, --depth 20",
    "GET /referrers/<digest>: for every digest asked, 1000 manifests that are not there (each listed with its type and annotations)",
    async () => {
      subjectIn("refs/wide");
      reg.referrers("refs/wide", (d) => referrersIndex(Array.from({ length: 1000 }, (_, i) => phantom(`${d}/${i}`))));
      const before = reg.count("GET /v2/refs/wide/referrers/");
      const t = await run(["referrers", "--depth", "20", `docker://${reg.host}/refs/wide:v1`]);
      const asked = reg.count("GET /v2/refs/wide/referrers/") - before;
      assert.equal(t.code, 5, t.stderr);
      assert.match(t.stderr, /more than 10000 referrers below one image; dray lists at most that many/);
      assert.ok(asked <= 11, `${asked} referrers requests`);
      return `referrers exit 5 after ${asked} referrers requests: ${JSON.stringify(lastLine(t.stderr))}`;
    },
  );
});

it("no run printed a secret", () => {
  assert.ok(assertNoSecretsPrinted() > 0);
});
