// podman as an independent reader of images dray wrote: each instance has its
// own storage (vfs driver, --root/--runroot in a temporary folder), so no
// test sees another's images and nothing touches the machine's storage.
import { execFile } from "node:child_process";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { requireTool } from "./registry.js";
import { makeTempDir } from "./tmp.js";

export interface Podman {
  /** `podman ARGS…` against this instance's storage; rejects with stderr on a non-zero exit. */
  run(args: string[]): Promise<string>;
  /** `podman image inspect REF` parsed (the first image). */
  inspect(ref: string): Promise<{ Id: string; Labels: Record<string, string> | null; Config: Record<string, unknown>; Digest: string }>;
  remove(): Promise<void>;
}

export function startPodman(): Podman {
  requireTool("podman");
  const dir = makeTempDir("dray-podman-");
  const base = [
    "--root",
    join(dir, "root"),
    "--runroot",
    join(dir, "run"),
    "--storage-driver",
    "vfs",
    "--events-backend",
    "file",
    "--cgroup-manager",
    "cgroupfs",
  ];
  const run = (args: string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile(
        "podman",
        [...base, ...args],
        { maxBuffer: 64 * 1024 * 1024, env: { ...process.env, HOME: dir, XDG_RUNTIME_DIR: join(dir, "xdg") } },
        (err, stdout, stderr) => {
          if (err) reject(new Error(`podman ${args.join(" ")} failed: ${stderr || err.message}`));
          else resolve(stdout);
        },
      );
    });
  return {
    run,
    async inspect(ref) {
      const out = JSON.parse(await run(["image", "inspect", ref])) as Array<{
        Id: string;
        Labels: Record<string, string> | null;
        Config: Record<string, unknown>;
        Digest: string;
      }>;
      return out[0]!;
    },
    async remove() {
      await run(["system", "reset", "--force"]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
