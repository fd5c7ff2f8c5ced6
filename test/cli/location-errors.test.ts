// Mistakes with local locations get one line naming the path and the right
// exit code, never Node's raw EISDIR/EACCES/ENOENT text (issue 19 papercut):
// a directory where an archive file belongs (2), a file where a layout
// directory belongs (2), a destination the user may not write (1), a missing
// parent folder of a destination (1; of a source, "does not exist", 3), and
// a malformed index.json or manifest.json (5, the file named). Every row is
// one real `dray` run; the permission rows run as `nobody`, since root (the
// tests' user) ignores mode bits.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chmod, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { buildImage, writeOciLayout } from "../helpers/fixtures.js";
import { makeTempDir } from "../helpers/tmp.js";
import { dray, drayOk } from "./run.js";
import { execFileSync } from "node:child_process";

const NOBODY = { uid: 65534, gid: 65534 };
const isRoot = process.getuid?.() === 0;

interface Row {
  what: string;
  args: (w: string) => string[];
  code: number;
  /** The one line, after `dray: `. */
  line: (w: string) => RegExp;
  asNobody?: boolean;
}

/** A path as it appears inside a RegExp. */
function re(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const ARCHIVES = [
  { t: "oci-archive", ref: "v1", file: "ok.tar" },
  { t: "docker-archive", ref: "dray/x:v1", file: "okd.tar" },
] as const;

const isDirLine = (w: string): RegExp => new RegExp(`^${re(`${w}/adir is a directory; an archive is a file (use oci:${w}/adir`)}`);

const ROWS: Row[] = [
  ...ARCHIVES.flatMap(({ t, ref, file }): Row[] => [
    { what: `${t}: a directory as copy's source`, args: (w) => ["copy", `${t}:${w}/adir`, `oci:${w}/o`], code: 2, line: isDirLine },
    { what: `${t}: a directory to inspect`, args: (w) => ["inspect", `${t}:${w}/adir`], code: 2, line: isDirLine },
    { what: `${t}: a directory to ls`, args: (w) => ["ls", `${t}:${w}/adir`], code: 2, line: isDirLine },
    { what: `${t}: a directory to tag`, args: (w) => ["tag", `${t}:${w}/adir:${ref}`, "v9"], code: 2, line: isDirLine },
    { what: `${t}: a directory to delete from`, args: (w) => ["delete", `${t}:${w}/adir:${ref}`], code: 2, line: isDirLine },
    {
      what: `${t}: a directory as copy's destination`,
      args: (w) => ["copy", `oci:${w}/ok:v1`, `${t}:${w}/adir:${ref}`],
      code: 2,
      line: isDirLine,
    },
    {
      // Found before any transfer, as `-o FILE`'s missing folder is: usage, exit 2 (was 1, after the source was opened).
      what: `${t}: a destination whose folder is missing`,
      args: (w) => ["copy", `oci:${w}/ok:v1`, `${t}:${w}/nope/x.tar:${ref}`],
      code: 2,
      line: (w) =>
        new RegExp(`^${re(`${t}:${w}/nope/x.tar: the folder ${w}/nope does not exist; create it first or choose another folder`)}$`),
    },
    {
      what: `${t}: a source whose folder is missing`,
      args: (w) => ["inspect", `${t}:${w}/nope/x.tar`],
      code: 3,
      line: (w) => new RegExp(`^${re(`cannot open archive: ${w}/nope/x.tar does not exist`)}$`),
    },
    {
      what: `${t}: a destination in a read-only folder`,
      args: (w) => ["copy", `oci:${w}/ok:v1`, `${t}:${w}/ro/x.tar:${ref}`],
      code: 2,
      line: (w) =>
        new RegExp(`^${re(`${t}:${w}/ro/x.tar: cannot write in ${w}/ro (permission denied); choose a folder you can write in`)}$`),
      asNobody: true,
    },
    {
      what: `${t}: copy into a read-only archive (found before any transfer)`,
      args: (w) => ["copy", `oci:${w}/ok:v1`, `${t}:${w}/ro-${file}:${ref}`],
      code: 2,
      line: (w) => new RegExp(`^${re(`cannot write ${w}/ro-${file}: permission denied`)}$`),
      asNobody: true,
    },
    {
      what: `${t}: tag in a read-only archive`,
      args: (w) => ["tag", `${t}:${w}/ro-${file}:${ref}`, "v9"],
      code: 1,
      line: (w) => new RegExp(`^${re(`cannot write ${w}/ro-${file}: permission denied`)}$`),
      asNobody: true,
    },
  ]),
  {
    what: "oci-archive: a malformed index.json, read",
    args: (w) => ["ls", `oci-archive:${w}/bad.tar`],
    code: 5,
    line: (w) => new RegExp(`^${re(`index.json in ${w}/bad.tar is not valid JSON`)}`),
  },
  {
    what: "oci-archive: a malformed index.json at the destination is refused, not replaced",
    args: (w) => ["copy", `oci:${w}/ok:v1`, `oci-archive:${w}/bad.tar:v2`],
    code: 5,
    line: (w) => new RegExp(`^${re(`index.json in ${w}/bad.tar is not valid JSON`)}`),
  },
  {
    what: "docker-archive: a malformed manifest.json at the destination is refused, not replaced",
    args: (w) => ["copy", `oci:${w}/ok:v1`, `docker-archive:${w}/badd.tar:dray/y:v2`],
    code: 5,
    line: (w) => new RegExp(`^${re(`manifest.json is not valid JSON (${w}/badd.tar)`)}`),
  },
  ...["copy", "inspect", "ls", "tag", "delete"].map((cmd): Row => ({
    what: `oci: a malformed index.json (${cmd})`,
    args: (w) =>
      cmd === "copy"
        ? ["copy", `oci:${w}/bad:v1`, `oci:${w}/o`]
        : cmd === "ls"
          ? ["ls", `oci:${w}/bad`]
          : cmd === "tag"
            ? ["tag", `oci:${w}/bad:v1`, "v9"]
            : [cmd, `oci:${w}/bad:v1`],
    code: 5,
    line: (w) => new RegExp(`^${re(`index.json in ${w}/bad is not valid JSON`)}`),
  })),
  {
    what: "oci: a malformed index.json at the destination",
    args: (w) => ["copy", `oci:${w}/ok:v1`, `oci:${w}/bad:v2`],
    code: 5,
    line: (w) => new RegExp(`^${re(`index.json in ${w}/bad is not valid JSON`)}`),
  },
  {
    what: "oci: a file as copy's destination",
    args: (w) => ["copy", `oci:${w}/ok:v1`, `oci:${w}/ok.tar:v2`],
    code: 2,
    line: (w) => new RegExp(`^${re(`${w}/ok.tar is a file; an OCI layout is a directory (use oci-archive:${w}/ok.tar`)}`),
  },
  ...["oci-archive:/proc/x.tar", "docker-archive:/proc/x.tar:dray/x:v1"].map((dst): Row => ({
    what: `${dst.split(":")[0]!}: in a folder that takes no new files (/proc)`,
    args: (w) => ["copy", `oci:${w}/ok:v1`, dst],
    code: 2,
    // Was "cannot create a temporary folder in: /proc does not exist", then the same in words with exit 1.
    line: () =>
      new RegExp(
        `^${re(`${dst.split(":")[0]!}:/proc/x.tar: cannot create a file in /proc (the file system takes no new files there); choose another folder`)}$`,
      ),
  })),
  {
    what: "sync: a mirror archive whose folder is missing",
    args: (w) => ["sync", `oci:${w}/ok`, `oci-archive:${w}/nope/m.tar`],
    code: 2,
    line: (w) =>
      new RegExp(`^${re(`oci-archive:${w}/nope/m.tar: the folder ${w}/nope does not exist; create it first or choose another folder`)}$`),
  },
  {
    what: "oci: a file as a source",
    args: (w) => ["inspect", `oci:${w}/ok.tar:v1`],
    code: 2,
    line: (w) => new RegExp(`^${re(`${w}/ok.tar is not a directory`)}`),
  },
  {
    what: "oci: a new layout in a read-only folder",
    args: (w) => ["copy", `oci:${w}/ok:v1`, `oci:${w}/ro/l:v1`],
    code: 1,
    line: (w) => new RegExp(`^${re(`cannot create OCI layout directory ${w}/ro/l: permission denied`)}$`),
    asNobody: true,
  },
  ...[
    ["copy", "into"],
    ["tag", "in"],
    ["delete", "from"],
  ].map(([cmd, prep]): Row => ({
    what: `oci: ${cmd} ${prep} a read-only layout`,
    args: (w) =>
      cmd === "copy"
        ? ["copy", `oci:${w}/ok:v1`, `oci:${w}/ro-layout:v2`]
        : cmd === "tag"
          ? ["tag", `oci:${w}/ro-layout:v1`, "v9"]
          : ["delete", `oci:${w}/ro-layout:v1`],
    code: 1,
    line: (w) => new RegExp(`^${re(`cannot write ${w}/ro-layout: permission denied`)}$`),
    asNobody: true,
  })),
];

describe("one clear line for a wrong, unwritable, missing or malformed local location (issue 19)", () => {
  let w: string;

  before(async () => {
    w = makeTempDir("dray-locerr-");
    await chmod(w, 0o755);
    await writeOciLayout(join(w, "ok"), await buildImage({ seed: "location-errors" }), "v1");
    await drayOk(["copy", "-q", `oci:${w}/ok:v1`, `oci-archive:${w}/ok.tar:v1`]);
    await drayOk(["copy", "-q", `oci:${w}/ok:v1`, `docker-archive:${w}/okd.tar:dray/x:v1`]);
    await mkdir(join(w, "adir"));
    // Malformed: a layout and an oci-archive whose index.json is cut, a docker-archive whose manifest.json is.
    await drayOk(["copy", "-q", `oci:${w}/ok:v1`, `oci:${w}/bad:v1`]);
    await writeFile(join(w, "bad", "index.json"), "{not json");
    execFileSync("tar", ["-cf", join(w, "bad.tar"), "-C", join(w, "bad"), "oci-layout", "index.json", "blobs"]);
    await mkdir(join(w, "dbad"));
    execFileSync("tar", ["-xf", join(w, "okd.tar"), "-C", join(w, "dbad")]);
    await writeFile(join(w, "dbad", "manifest.json"), "[{bad");
    execFileSync("tar", ["-cf", join(w, "badd.tar"), "-C", join(w, "dbad"), "manifest.json", "blobs", "repositories"]);
    // Read-only for nobody: a folder, a layout, and archives (root owns them all).
    await mkdir(join(w, "ro"), { mode: 0o555 });
    await drayOk(["copy", "-q", `oci:${w}/ok:v1`, `oci:${w}/ro-layout:v1`]);
    execFileSync("chmod", ["-R", "a+rX,a-w", join(w, "ro-layout")]);
    for (const f of ["ok.tar", "okd.tar"]) {
      await writeFile(join(w, `ro-${f}`), await readFile(join(w, f)), { mode: 0o444 });
    }
    await chmod(w, 0o777); // a rename in this folder would succeed: only the files' own permission says no
  });

  for (const row of ROWS) {
    it(row.what, { skip: row.asNobody && !isRoot && "needs root to run dray as another user" }, async () => {
      const r = await dray(row.args(w), row.asNobody ? { user: NOBODY, env: { TMPDIR: "/tmp" }, cwd: "/tmp" } : {});
      assert.equal(r.code, row.code, r.stderr);
      const lines = r.stderr.split("\n").filter((l) => l.startsWith("dray: "));
      assert.equal(lines.length, 1, `one error line:\n${r.stderr}`);
      const line = lines[0]!.slice("dray: ".length);
      assert.match(line, row.line(w));
      assert.doesNotMatch(line, /\bE[A-Z]{2,}\b|illegal operation|mkdtemp|\bopen '/, "no raw errno text");
    });
  }

  it("an archive destination refused up front leaves nothing behind", async () => {
    assert.equal(existsSync(join(w, "nope")), false, "the missing folder was not made");
    assert.deepEqual(await readdir(join(w, "ro")), [], "nothing in the read-only folder");
    assert.deepEqual(
      (await readdir("/proc")).filter((n) => n.includes("dray") || n.endsWith(".tar")),
      [],
    );
  });

  it("the refused malformed archives are left as they were", async () => {
    assert.equal(execFileSync("tar", ["-xOf", join(w, "bad.tar"), "index.json"]).toString(), "{not json");
    assert.equal(execFileSync("tar", ["-xOf", join(w, "badd.tar"), "manifest.json"]).toString(), "[{bad");
  });
});
