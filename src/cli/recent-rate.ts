/**
 * Throughput over a recent sliding window. An average since the start counts the time before
 * work began (e.g. waiting for a worker) and lags behind every change of pace; a window follows
 * the pace the work has now, so an ETA derived from it is honest.
 */
export class RecentRate {
  private readonly samples: Array<{ at: number; done: number }> = [];
  private firstGrewAt: number | undefined;
  private lastGrewAt: number | undefined;
  private increases = 0;

  constructor(
    private readonly windowMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records the running total of units done. */
  add(done: number): void {
    const at = this.now();
    const last = this.samples.at(-1);
    // A total that went down (e.g. a counter restarted) starts a new measurement.
    if (last && done < last.done) this.samples.length = 0;
    if (last && done > last.done) {
      this.firstGrewAt ??= at;
      this.lastGrewAt = at;
      this.increases++;
    }
    this.lastGrewAt ??= at;
    this.samples.push({ at, done });
    // Keep one sample at or before the window's start, so the rate spans the whole window.
    while (this.samples.length > 2 && this.samples[1]!.at <= at - this.windowMs) this.samples.shift();
  }

  /** Units per second over the window; null until the samples span at least a second. */
  perSecond(): number | null {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last) return null;
    const seconds = (last.at - first.at) / 1000;
    if (seconds < 1) return null;
    return (last.done - first.done) / seconds;
  }

  /** Seconds since the total last grew (since the first sample while it never has). */
  stalledSeconds(): number {
    return this.lastGrewAt === undefined ? 0 : (this.now() - this.lastGrewAt) / 1000;
  }

  /**
   * Seconds the total usually takes to grow: work done in batches moves in steps, and a pause
   * of one step is no stall. Null before two increases.
   */
  usualStepSeconds(): number | null {
    if (this.increases < 2 || this.firstGrewAt === undefined || this.lastGrewAt === undefined) return null;
    return (this.lastGrewAt - this.firstGrewAt) / 1000 / (this.increases - 1);
  }
}
