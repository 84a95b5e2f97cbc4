import type { AnnMethod } from '../stores/index-ops-support.js';
import { type BuildProgress, type ProgressSample, progressFraction, rowsDone } from './build-progress.js';

export interface ProgressTrackerOptions {
  method: AnnMethod;
  concurrent: boolean;
  rowsTotal: number;
  expectedSeconds: number | null;
  /** "Slower than predicted" when the projected duration exceeds this × expectedSeconds. */
  slowFactor: number;
  /** Rate and ETA look at this recent window, so they follow the build's real pace. */
  rateWindowSeconds?: number;
  now?: () => number;
}

interface Point {
  at: number;
  rows: number;
  fraction: number;
}

/** Turns raw progress samples into fraction, rate, ETA and the slower-than-predicted signal. */
export class ProgressTracker {
  private readonly startedAt: number;
  private readonly points: Point[] = [];
  private readonly now: () => number;
  private last: BuildProgress;

  constructor(private readonly options: ProgressTrackerOptions) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    this.last = this.snapshot('starting', 0, 0, 0, 0, 0);
  }

  get current(): BuildProgress {
    return this.last;
  }

  /** A sample of the build's backend; undefined while Postgres has not published one yet. */
  update(sample: ProgressSample | undefined): BuildProgress {
    if (!sample) {
      this.last = { ...this.last, elapsedSeconds: this.elapsedSeconds() };
      return this.last;
    }
    const fraction = progressFraction(sample, this.options) ?? this.last.fraction;
    const rows = rowsDone(sample, this.options.rowsTotal);
    this.points.push({ at: this.now(), rows, fraction });
    this.last = this.snapshot(
      sample.phase,
      fraction,
      rows,
      sample.blocksDone,
      sample.blocksTotal,
      Math.max(sample.workers, this.last.workers),
    );
    return this.last;
  }

  /** The statement returned successfully: 100 %. */
  done(): BuildProgress {
    this.last = {
      ...this.last,
      phase: 'done',
      fraction: 1,
      rowsDone: this.options.rowsTotal,
      etaSeconds: 0,
      elapsedSeconds: this.elapsedSeconds(),
      slowerThanPredicted: this.isSlow(this.elapsedSeconds(), 0, 1),
    };
    return this.last;
  }

  private elapsedSeconds(): number {
    return (this.now() - this.startedAt) / 1000;
  }

  private snapshot(
    phase: string,
    fraction: number,
    rows: number,
    blocksDone: number,
    blocksTotal: number,
    workers: number,
  ): BuildProgress {
    const elapsed = this.elapsedSeconds();
    const { rowsPerMinute, fractionPerSecond } = this.rates();
    const etaSeconds =
      fraction >= 1
        ? 0
        : fractionPerSecond && fractionPerSecond > 0
          ? (1 - fraction) / fractionPerSecond
          : null;
    return {
      phase,
      fraction,
      rowsDone: rows,
      rowsTotal: this.options.rowsTotal,
      blocksDone,
      blocksTotal,
      rowsPerMinute,
      etaSeconds,
      elapsedSeconds: elapsed,
      workers,
      expectedSeconds: this.options.expectedSeconds,
      slowerThanPredicted: this.isSlow(elapsed, etaSeconds, fraction),
    };
  }

  /** Rates over the recent window (from the first sample when the build is younger than that). */
  private rates(): { rowsPerMinute: number | null; fractionPerSecond: number | null } {
    const latest = this.points.at(-1);
    if (!latest) return { rowsPerMinute: null, fractionPerSecond: null };
    const windowStart = latest.at - (this.options.rateWindowSeconds ?? 30) * 1000;
    const base = this.points.find((point) => point.at >= windowStart) ?? latest;
    const seconds = (latest.at - base.at) / 1000;
    if (seconds < 0.2) return { rowsPerMinute: null, fractionPerSecond: null };
    return {
      rowsPerMinute: ((latest.rows - base.rows) / seconds) * 60,
      fractionPerSecond: (latest.fraction - base.fraction) / seconds,
    };
  }

  /**
   * Meaningfully slower than the rehearsal said: the projected duration (elapsed + ETA, or
   * elapsed / fraction when no rate is measurable, e.g. while waiting on old transactions)
   * exceeds slowFactor × expected. Not judged in the first fifth of the expected time.
   */
  private isSlow(elapsed: number, eta: number | null, fraction: number): boolean {
    const expected = this.options.expectedSeconds;
    if (expected === null || expected <= 0) return false;
    const limit = this.options.slowFactor * expected;
    if (elapsed > limit) return true;
    if (elapsed < Math.max(1, 0.2 * expected)) return false;
    const projected =
      eta !== null ? elapsed + eta : fraction > 0 ? elapsed / fraction : Number.POSITIVE_INFINITY;
    return projected > limit;
  }
}
