import { ErrorCode, VectorsyncError } from '../errors.js';

export interface ProviderLimits {
  /** Requests per minute; absent: no client-side limit (the provider's headers still count). */
  requestsPerMinute?: number | undefined;
  /** Tokens per minute, counted with the request's token estimate; absent: no limit. */
  tokensPerMinute?: number | undefined;
  /** Requests in flight at once. */
  concurrency: number;
  /**
   * The longest a request waits for its turn inline. A longer wait fails the call at once with
   * EMBEDDER_RATE_LIMITED and the time to wait, so sync pauses only the collections that use
   * this provider instead of holding a worker (and every other collection in its batch).
   */
  maxWaitMs: number;
}

/** What the limiter knows now, for status and metrics. */
export interface LimiterState {
  inFlight: number;
  /** Until when the provider asked us to stop (Retry-After, a reset header), epoch ms; 0: not blocked. */
  blockedUntil: number;
  /** The share of the configured rates in use after adaptive backoff (1: all of it). */
  rateFactor: number;
  /** Requests turned away because the wait was longer than maxWaitMs. */
  deferred: number;
  /** 429 answers seen. */
  throttled: number;
}

/**
 * A token bucket refilled continuously: `capacity` per minute, at most `capacity` banked. A
 * request may take more than is banked (a large batch under a small TPM): it then waits for the
 * debt to be refilled, so the rate holds on average without refusing the request outright.
 */
class MinuteBucket {
  private level: number;
  private updatedAt: number;

  constructor(
    private readonly capacity: number,
    now: number,
  ) {
    this.level = capacity;
    this.updatedAt = now;
  }

  /** Milliseconds until `amount` can be taken at `factor` of the rate. */
  waitFor(amount: number, factor: number, now: number): number {
    this.refill(factor, now);
    const needed = Math.min(amount, this.capacity) - this.level;
    if (needed <= 0) return 0;
    return Math.ceil((needed / (this.capacity * factor)) * 60_000);
  }

  take(amount: number, factor: number, now: number): void {
    this.refill(factor, now);
    this.level -= amount;
  }

  /** The provider says this many remain: never believe we have more than it does. */
  clampTo(remaining: number): void {
    this.level = Math.min(this.level, remaining);
  }

  private refill(factor: number, now: number): void {
    const elapsed = Math.max(0, now - this.updatedAt);
    this.level = Math.min(this.capacity, this.level + (elapsed / 60_000) * this.capacity * factor);
    this.updatedAt = now;
  }
}

/**
 * Client-side limits of one embedding provider (one embedder config, shared by every collection
 * that uses it in this process): requests and tokens per minute, concurrency, and what the
 * provider says in its answers. A 429 or a `Retry-After` blocks the provider until the time it
 * names and halves the rates used (adaptive backoff); each success wins back a step of them.
 */
export class ProviderLimiter {
  private readonly requests: MinuteBucket | undefined;
  private readonly tokens: MinuteBucket | undefined;
  private inFlight = 0;
  private readonly waiting: Array<{ grant(): void }> = [];
  private blockedUntil = 0;
  private rateFactor = 1;
  private deferred = 0;
  private throttled = 0;

  constructor(
    private readonly name: string,
    private readonly limits: ProviderLimits,
    private readonly clock: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) =>
      new Promise((resolve) => setTimeout(resolve, ms)),
  ) {
    const now = clock();
    if (limits.requestsPerMinute) this.requests = new MinuteBucket(limits.requestsPerMinute, now);
    if (limits.tokensPerMinute) this.tokens = new MinuteBucket(limits.tokensPerMinute, now);
  }

  state(): LimiterState {
    return {
      inFlight: this.inFlight,
      blockedUntil: this.blockedUntil > this.clock() ? this.blockedUntil : 0,
      rateFactor: this.rateFactor,
      deferred: this.deferred,
      throttled: this.throttled,
    };
  }

  /**
   * Waits for a turn to send a request of `tokens` (an estimate), holding a concurrency slot
   * until `release` is called. The slot comes first and the rates are reserved right after the
   * wait with no await between the check and the reservation, so concurrent callers cannot all
   * see one full bucket, and one queued behind a slot still honours a block the provider set
   * meanwhile. Throws EMBEDDER_RATE_LIMITED (nothing held) when the turn, slot included, is
   * further away than maxWaitMs.
   */
  async acquire(tokens: number): Promise<() => void> {
    const start = this.clock();
    await this.slot(start + this.limits.maxWaitMs);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.inFlight--;
      this.waiting.shift()?.grant();
    };
    try {
      // Time slept counts as passed even when the clock says otherwise (an injected sleep).
      let now = Math.max(this.clock(), start);
      for (;;) {
        const wait = this.waitFor(tokens, now);
        if (wait === 0) break;
        if (now + wait - start > this.limits.maxWaitMs) throw this.deferral(now + wait - start);
        await this.sleep(wait);
        now = Math.max(this.clock(), now + wait);
      }
      this.requests?.take(1, this.rateFactor, now);
      this.tokens?.take(tokens, this.rateFactor, now);
    } catch (error) {
      release();
      throw error;
    }
    return release;
  }

  /** A tokens-per-minute limit is configured: acquire() needs each request's token count. */
  get countsTokens(): boolean {
    return this.tokens !== undefined;
  }

  /** How long until the provider's own block ends (0: not blocked). */
  blockedFor(): number {
    return Math.max(0, this.blockedUntil - this.clock());
  }

  /** A successful answer: its rate-limit headers, and a step back towards the configured rates. */
  succeeded(headers: Headers): void {
    this.rateFactor = Math.min(1, this.rateFactor + 0.1);
    this.observe(headers);
  }

  /** A 429 (or an overloaded 503): stop until the provider's time, and halve the rates. */
  throttledBy(headers: Headers, fallbackMs: number): number {
    this.throttled++;
    this.rateFactor = Math.max(1 / 16, this.rateFactor / 2);
    const waitMs = retryAfterMs(headers) ?? resetMs(headers) ?? fallbackMs;
    this.blockedUntil = Math.max(this.blockedUntil, this.clock() + waitMs);
    this.observe(headers);
    return waitMs;
  }

  private observe(headers: Headers): void {
    const now = this.clock();
    for (const [kind, bucket] of [
      ['requests', this.requests],
      ['tokens', this.tokens],
    ] as const) {
      const remaining = Number(headers.get(`x-ratelimit-remaining-${kind}`) ?? Number.NaN);
      if (!Number.isFinite(remaining)) continue;
      bucket?.clampTo(remaining);
      if (remaining <= 0) {
        const reset = parseResetDuration(headers.get(`x-ratelimit-reset-${kind}`));
        if (reset !== undefined) this.blockedUntil = Math.max(this.blockedUntil, now + reset);
      }
    }
  }

  private waitFor(tokens: number, now: number): number {
    return Math.max(
      this.blockedUntil - now,
      this.requests?.waitFor(1, this.rateFactor, now) ?? 0,
      this.tokens?.waitFor(tokens, this.rateFactor, now) ?? 0,
      0,
    );
  }

  /** A concurrency slot, or EMBEDDER_RATE_LIMITED when none is free by `deadline`. */
  private slot(deadline: number): Promise<void> {
    if (this.inFlight < this.limits.concurrency) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        grant: () => {
          clearTimeout(timer);
          this.inFlight++;
          resolve();
        },
      };
      const timer = setTimeout(
        () => {
          const index = this.waiting.indexOf(waiter);
          if (index >= 0) this.waiting.splice(index, 1);
          reject(this.deferral(Math.max(this.limits.maxWaitMs, this.blockedFor())));
        },
        Math.max(0, deadline - this.clock()),
      );
      this.waiting.push(waiter);
    });
  }

  private deferral(waitMs: number): VectorsyncError {
    this.deferred++;
    return new VectorsyncError(
      ErrorCode.EmbedderRateLimited,
      `embedding provider ${this.name} is at its rate limit for another ${Math.ceil(waitMs)} ms; the work waits (nothing is dropped)`,
      { transient: true, details: { embedder: this.name, retryAfterMs: Math.ceil(waitMs) } },
    );
  }
}

/** `Retry-After` (seconds or an HTTP date) or OpenAI's `retry-after-ms`, in milliseconds. */
export function retryAfterMs(headers: Headers): number | undefined {
  const ms = Number(headers.get('retry-after-ms') ?? Number.NaN);
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** The later of the two `x-ratelimit-reset-*` durations whose remaining count is exhausted. */
function resetMs(headers: Headers): number | undefined {
  const resets = (['requests', 'tokens'] as const)
    .filter((kind) => Number(headers.get(`x-ratelimit-remaining-${kind}`) ?? 1) <= 0)
    .map((kind) => parseResetDuration(headers.get(`x-ratelimit-reset-${kind}`)))
    .filter((ms): ms is number => ms !== undefined);
  return resets.length > 0 ? Math.max(...resets) : undefined;
}

/** OpenAI's reset durations: "1s", "6m0s", "20ms", "1h2m3.5s"; a bare number is seconds. */
export function parseResetDuration(value: string | null): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  const pattern = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let total = 0;
  let matched = '';
  for (const match of trimmed.matchAll(pattern)) {
    const amount = Number(match[1]);
    total += amount * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
    matched += match[0];
  }
  return matched === trimmed && matched !== '' ? total : undefined;
}
