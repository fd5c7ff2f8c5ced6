import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { register as blob } from "./blob.js";
import { register as cat } from "./cat.js";
import { register as completion } from "./completion.js";
import { register as copy } from "./copy.js";
import { register as deleteCmd } from "./delete.js";
import { register as digest } from "./digest.js";
import { register as exportCmd } from "./export.js";
import { register as inspect } from "./inspect.js";
import { register as login } from "./login.js";
import { register as logout } from "./logout.js";
import { register as ls } from "./ls.js";
import { register as ratelimit } from "./ratelimit.js";
import { register as referrers } from "./referrers.js";
import { register as syncCmd } from "./sync.js";
import { register as tag } from "./tag.js";
import { register as verify } from "./verify.js";
import { register as sign } from "./sign.js";
import { register as imageIndex } from "./image-index.js";
import { register as mutate } from "./mutate.js";
import { register as appendCmd } from "./append.js";
import { register as attachCmd } from "./attach.js";

/**
 * Each command module exports `register(program, ctx)`: it declares the syntax
 * and an action that imports its implementation lazily (`await import(...)`),
 * so `dray --version` and `--help` load commander and these declarations only.
 */
export type RegisterCommand = (program: Command, ctx: CliContext) => void;

/**
 * A command's names (its name, then its aliases: what a user may type) beside
 * its declaration, so that a run can declare only the command it runs
 * (main.ts). test/cli/startup/declare.test.ts checks them against what `register` declares.
 */
export interface CommandEntry {
  readonly names: readonly string[];
  readonly register: RegisterCommand;
  /** The command reads the other commands' declarations (completion scripts): a run of it declares them all. */
  readonly needsAll?: true;
}

export const COMMANDS: readonly CommandEntry[] = [
  { names: ["copy", "cp"], register: copy },
  { names: ["inspect"], register: inspect },
  { names: ["tag"], register: tag },
  { names: ["delete", "rm"], register: deleteCmd },
  { names: ["ls", "list-tags"], register: ls },
  { names: ["digest"], register: digest },
  { names: ["login"], register: login },
  { names: ["logout"], register: logout },
  { names: ["completion"], register: completion, needsAll: true },
  { names: ["sync"], register: syncCmd },
  { names: ["blob"], register: blob },
  { names: ["export"], register: exportCmd },
  { names: ["cat"], register: cat },
  { names: ["referrers"], register: referrers },
  { names: ["ratelimit"], register: ratelimit },
  { names: ["verify"], register: verify },
  { names: ["sign"], register: sign },
  { names: ["index"], register: imageIndex },
  { names: ["mutate"], register: mutate },
  { names: ["append"], register: appendCmd },
  { names: ["attach"], register: attachCmd },
];
