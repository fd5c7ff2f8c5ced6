import { UsageError } from "../errors.js";

/** A platform as index entries and image configs describe it. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  "os.version"?: string;
  "os.features"?: string[];
}

const SEGMENT_RE = /^[a-z0-9_.-]+$/;

/** Parses `os/arch[/variant]` (as given to `--platform`). */
export function parsePlatform(text: string): Platform {
  const parts = text.split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !SEGMENT_RE.test(p))) {
    throw new UsageError(`invalid platform "${text}": expected os/arch[/variant], lowercase`, { code: "E_PLATFORM_INVALID" });
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((s) => s !== undefined && s !== "").join("/");
}

/**
 * Normalises the way containerd does: aliases to canonical names, and the
 * default variant made explicit (arm64 → v8, arm → v7) so `linux/arm64`
 * matches an entry that says `arm64/v8` and the reverse.
 */
export function normalizePlatform(p: Platform): Platform {
  let architecture = p.architecture.toLowerCase();
  let variant = p.variant ? p.variant.toLowerCase() : undefined;
  switch (architecture) {
    case "x86_64":
    case "x86-64":
    case "amd64":
      // v1 is the baseline every amd64 machine has; v2..v4 are real requirements and kept.
      architecture = "amd64";
      if (variant === "v1") variant = undefined;
      break;
    case "aarch64":
    case "arm64":
      architecture = "arm64";
      if (variant === undefined || variant === "8" || variant === "v8" || variant === "v8.0") variant = "v8";
      break;
    case "armhf":
      architecture = "arm";
      variant = "v7";
      break;
    case "armel":
      architecture = "arm";
      variant = "v6";
      break;
    case "arm":
      if (variant === undefined || variant === "7") variant = "v7";
      else if (/^[5-8]$/.test(variant)) variant = `v${variant}`;
      break;
    case "i386":
      architecture = "386";
      break;
  }
  const out: Platform = { os: p.os.toLowerCase(), architecture };
  if (variant !== undefined && variant !== "") out.variant = variant;
  return out;
}

/** True when `candidate` (from an index entry or config) satisfies what the user asked for. */
export function platformMatches(wanted: Platform, candidate: Platform | undefined): boolean {
  if (!candidate) return false;
  const w = normalizePlatform(wanted);
  const c = normalizePlatform(candidate);
  return w.os === c.os && w.architecture === c.architecture && (w.variant ?? "") === (c.variant ?? "");
}

/** The platform of the machine dray runs on, in OCI terms. */
export function hostPlatform(): Platform {
  const archMap: Record<string, string> = {
    x64: "amd64",
    arm64: "arm64",
    arm: "arm",
    ia32: "386",
    ppc64: "ppc64le",
    s390x: "s390x",
    riscv64: "riscv64",
  };
  // Container images for macOS hosts are Linux images run in a VM, as docker does.
  const os = process.platform === "win32" ? "windows" : "linux";
  return normalizePlatform({ os, architecture: archMap[process.arch] ?? process.arch });
}
