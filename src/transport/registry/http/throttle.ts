/**
 * Per-registry throttles (`sync` YAML `registries: HOST: {requests-per-second,
 * concurrency}`, `--rate`, `--registry-jobs`): every HTTP request to the
 * registry's host — whichever client, repository or side sends it — first
 * takes a start from a token bucket and a slot among the requests in flight.
 * The slot is held until the response body is read or dropped, so a slow
 * blob counts for as long as it flows. Requests to other hosts (a token
 * realm, blob storage a redirect leads to) are not counted: they are not the
 * registry's API. Process-wide, so two clients of one host share one bound.
 *
 * Why here and not in sync: registries limit requests, not images (Docker
 * Hub counts manifest GETs, GHCR and Quay answer 429 per request; regclient
 * #711 and #766 ask for exactly this), and only the HTTP layer sees every
 * request, retries and token refreshes included.
 */
import { sleep } from "./retry.js";

export interface ThrottleSettings {
  /** Request starts per second (a token bucket holding one token: no bursts; see SPACING_MARGIN). */
  requestsPerSecond?: number;
  /** Requests in flight at once, each until its response body is done. */
  concurrency?: number;
}

/** What a granted request gives back when its response is done. */
export type Release = () => void;

/**
 * Starts are spaced 5% wider than 1/rate. Exactly 1/rate apart, R+1 starts
 * span exactly one second, and a millisecond of jitter on the way to the
 * registry puts them inside one second there: measured at the registry's
 * side (the test's proxy), 8 per second became 9.
 */
const SPACING_MARGIN = 1.05;

export class Throttle {
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];
  /** When the bucket next holds a token (ms since epoch). */
  private nextStart = 0;
  /** Grants in order: a request that asked first starts first. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly host: string,
    readonly settings: ThrottleSettings,
  ) {}

  /** Waits for a slot, then for a token; returns the release of the slot. */
  async acquire(signal?: AbortSignal): Promise<Release> {
    await this.slot(signal);
    try {
      await this.token(signal);
    } catch (err) {
      this.free();
      throw err;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.free();
    };
  }

  private async slot(signal?: AbortSignal): Promise<void> {
    const limit = this.settings.concurrency;
    if (limit === undefined || this.inFlight < limit) {
      this.inFlight++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const grant = (): void => {
        signal?.removeEventListener("abort", onAbort);
        this.inFlight++;
        resolve();
      };
      const onAbort = (): void => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal!.reason);
      };
      if (signal?.aborted) return reject(signal.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(grant);
    });
  }

  private free(): void {
    this.inFlight--;
    this.waiting.shift()?.();
  }

  /** One token: starts are spaced (a little more than) 1/rate apart, measured from the previous start. */
  private token(signal?: AbortSignal): Promise<void> {
    const rate = this.settings.requestsPerSecond;
    if (rate === undefined) return Promise.resolve();
    const interval = (1000 / rate) * SPACING_MARGIN;
    const turn = this.chain.then(async () => {
      // A timer may fire a little early: wait until the clock has truly reached the start.
      for (let now = Date.now(); now < this.nextStart; now = Date.now()) await sleep(Math.ceil(this.nextStart - now), signal);
      this.nextStart = Date.now() + interval;
    });
    this.chain = turn.catch(() => undefined);
    return turn;
  }
}

const throttles = new Map<string, Throttle>();

/** The throttle of `host`, made on first use; later settings for the same host are ignored (one bound per host). */
export function throttleFor(host: string, settings: ThrottleSettings): Throttle {
  let t = throttles.get(host);
  if (!t) {
    t = new Throttle(host, settings);
    throttles.set(host, t);
  }
  return t;
}

/** Forgets every throttle (tests). */
export function resetThrottles(): void {
  throttles.clear();
}
