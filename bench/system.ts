// What the results depend on: the machine, how busy it was, and the versions
// of every program in the comparison.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
}

export interface Versions {
  node: string;
  dray: string;
  skopeo: string;
  registry: string;
  curl: string;
}

function firstLine(file: string, args: string[], env?: NodeJS.ProcessEnv): string {
  try {
    return execFileSync(file, args, { encoding: "utf8", env, stdio: ["ignore", "pipe", "pipe"], timeout: 30_000 })
      .split("\n")[0]!
      .trim();
  } catch (err) {
    return `unavailable (${(err as Error).message.split("\n")[0]})`;
  }
}

export function machineInfo(): MachineInfo {
  let cpuModel = cpus()[0]?.model ?? "unknown";
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m) cpuModel = m[1]!.trim();
  } catch {
    // not Linux: os.cpus() is good enough
  }
  return {
    cpuModel,
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: firstLine("uname", ["-sr"]),
  };
}

export function versions(drayBin: string, env: NodeJS.ProcessEnv): Versions {
  return {
    node: process.version,
    dray: firstLine(process.execPath, [drayBin, "--version"], env),
    skopeo: firstLine("skopeo", ["--version"], env),
    registry: firstLine("/usr/bin/docker-registry", ["--version"], env),
    curl: firstLine("curl", ["--version"], env),
  };
}

/** The 1, 5 and 15 minute load averages, rounded. */
export function loadAverages(): [number, number, number] {
  const [a, b, c] = loadavg();
  const r = (x: number | undefined): number => Math.round((x ?? 0) * 100) / 100;
  return [r(a), r(b), r(c)];
}
