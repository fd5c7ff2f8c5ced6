/**
 * One environment variable turns the start-up machinery off, in whole or in
 * part, for A/B runs and bug reports: DRAY_STARTUP_OFF=all, or a comma list
 * of the tricks below (none, 0, false or no: nothing off) (README.md in this folder says what each saves). None
 * of them changes what dray does, only how fast it starts and how much
 * memory it holds.
 */

/** Every trick the CLI's start-up plays, by the name DRAY_STARTUP_OFF knows it. */
export const TRICKS = {
  version: "bin/dray.cjs answers --version from package.json without loading the CLI",
  bundle: "the CLI runs from one bundle (dist/dray.cjs) with rarely used built-ins and undici's index left out",
  commands: "a run declares only the command it runs to commander (all of them for help, completion and unknown words)",
  cache: "compiled code is kept between runs (Node's compile cache, or a V8 code cache on Node 20)",
  liftoff: "undici's WebAssembly HTTP parser stays in V8's baseline tier (--liftoff-only, --wasm-tiering-budget)",
  maxopt: "no TurboFan (--max-opt=2)",
  gc: "a young-generation collection every 8 MiB streamed (--expose-gc and the scavenger)",
} as const;

export type Trick = keyof typeof TRICKS;

const NAMES = Object.keys(TRICKS) as Trick[];

/** The tricks DRAY_STARTUP_OFF turns off; unknown names are reported through `warn`, once. */
export function tricksOff(env: NodeJS.ProcessEnv = process.env, warn: (line: string) => void = () => undefined): Set<Trick> {
  const off = new Set<Trick>();
  for (const raw of (env.DRAY_STARTUP_OFF ?? "").split(",")) {
    const name = raw.trim().toLowerCase();
    if (name === "") continue;
    if (name === "all" || name === "1" || name === "true") NAMES.forEach((n) => off.add(n));
    // The usual ways of leaving a switch unset in a CI matrix or a compose file: nothing off.
    else if (name === "none" || name === "0" || name === "false" || name === "no") continue;
    else if ((NAMES as string[]).includes(name)) off.add(name as Trick);
    else warn(`dray: DRAY_STARTUP_OFF: unknown trick "${name}" ignored (known: all, none, ${NAMES.join(", ")})`);
  }
  return off;
}
