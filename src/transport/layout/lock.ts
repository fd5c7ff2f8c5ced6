// An advisory lock file guarding read-modify-write of index.json, so two dray
// processes committing into one layout both land. O_EXCL creation is atomic
// on local file systems; a lock left by a dead process (same host, pid gone)
// is broken, one from another host is waited for and then reported.
import { randomBytes } from "node:crypto";
import { link, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { IoError } from "../../errors.js";
import { HOSTNAME, errnoCode, isPidAlive, uniqueSuffix, writeError } from "./fsutil.js";
import { dirname } from "node:path";

interface LockOwner {
  pid: number;
  host: string;
  nonce: string;
  since: string;
}

export interface LockOptions {
  /** Give up after this long (default 60 s). */
  timeoutMs?: number;
}

export class LockFile {
  private held: LockOwner | undefined;

  constructor(readonly path: string) {}

  /** Takes the lock, waiting (with backoff) while a live process holds it. */
  async acquire(opts: LockOptions = {}): Promise<void> {
    if (this.held) throw new Error(`lock ${this.path} already held by this object`);
    const me: LockOwner = { pid: process.pid, host: HOSTNAME, nonce: randomBytes(8).toString("hex"), since: new Date().toISOString() };
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
    let delay = 10;
    for (;;) {
      if (await this.tryCreate(me)) {
        this.held = me;
        return;
      }
      const owner = await this.readOwner();
      if (owner && owner.host === HOSTNAME && !isPidAlive(owner.pid)) {
        await this.breakStale(owner);
        continue;
      }
      if (Date.now() > deadline) {
        const who = owner ? `process ${owner.pid} on ${owner.host} since ${owner.since}` : "another process";
        throw new IoError(`layout is locked by ${who}; remove ${this.path} if that process is gone`, { where: this.path });
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 200);
    }
  }

  async release(): Promise<void> {
    const me = this.held;
    if (!me) return;
    this.held = undefined;
    // Only remove the file if it is still ours (a stale-breaker may, very rarely, have taken it).
    const owner = await this.readOwner();
    if (owner?.nonce === me.nonce) await unlink(this.path).catch(() => undefined);
  }

  /** Runs `fn` with the lock held, releasing it however `fn` ends. */
  async with<T>(fn: () => Promise<T>, opts?: LockOptions): Promise<T> {
    await this.acquire(opts);
    try {
      return await fn();
    } finally {
      await this.release();
    }
  }

  private async tryCreate(me: LockOwner): Promise<boolean> {
    try {
      await writeFile(this.path, JSON.stringify(me), { flag: "wx", mode: 0o644 });
      return true;
    } catch (err) {
      if (errnoCode(err) === "EEXIST") return false;
      // The lock lives in the folder it guards: failing to make it means that folder cannot be written.
      throw writeError(err, "cannot write", dirname(this.path));
    }
  }

  private async readOwner(): Promise<LockOwner | undefined> {
    try {
      const doc: unknown = JSON.parse(await readFile(this.path, "utf8"));
      if (typeof doc !== "object" || doc === null) return undefined;
      const o = doc as Record<string, unknown>;
      if (typeof o.pid !== "number" || typeof o.host !== "string" || typeof o.nonce !== "string") return undefined;
      return { pid: o.pid, host: o.host, nonce: o.nonce, since: typeof o.since === "string" ? o.since : "?" };
    } catch {
      // Missing (released meanwhile) or half-written by a writer that just created it: not stale.
      return undefined;
    }
  }

  /**
   * Moves the stale lock aside atomically, then checks that what was moved is
   * the stale one; if a live process re-took the lock in between, its file is
   * linked back (link fails rather than overwrite a newer lock).
   */
  private async breakStale(stale: LockOwner): Promise<void> {
    const aside = `${this.path}.stale-${uniqueSuffix()}`;
    try {
      await rename(this.path, aside);
    } catch {
      return; // someone else broke or released it
    }
    try {
      const moved: unknown = JSON.parse(await readFile(aside, "utf8"));
      if (typeof moved === "object" && moved !== null && (moved as LockOwner).nonce !== stale.nonce) {
        await link(aside, this.path).catch(() => undefined);
      }
    } catch {
      // unreadable: it was the stale one or garbage; either way it goes
    }
    await unlink(aside).catch(() => undefined);
  }
}
