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

export const COMMANDS: readonly RegisterCommand[] = [
  copy,
  inspect,
  tag,
  deleteCmd,
  ls,
  digest,
  login,
  logout,
  completion,
  syncCmd,
  blob,
  exportCmd,
  cat,
  referrers,
  ratelimit,
  verify,
  sign,
  imageIndex,
  mutate,
  appendCmd,
  attachCmd,
];
