import { RecentRate } from './recent-rate.js';

export interface ProgressBarOptions {
  /** The rate and ETA look at this recent window (default 30 s), so they follow the current pace. */
  rateWindowMs?: number;
  now?: () => number;
}

/**
 * Without progress for this long (or three usual steps, for work that moves in large batches),
 * the bar says so instead of showing a stale ETA.
 */
const STALLED_AFTER_SECONDS = 10;

/**
 * A one-line progress bar for long CLI operations, redrawn in place on a TTY and printed as
 * periodic plain lines otherwise (CI logs, pipes). Its rate and ETA come from a recent window,
 * not the average since the start: time spent waiting before work began does not count.
 */
export class ProgressBar {
  private readonly now: () => number;
  private readonly started: number;
  private readonly rate: RecentRate;
  private lastPlainLine = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
    options: ProgressBarOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.started = this.now();
    this.rate = new RecentRate(options.rateWindowMs ?? 30_000, this.now);
  }

  update(done: number, total: number, extra = ''): void {
    this.rate.add(done);
    const text = `${this.label} ${this.describe(done, total)}${extra ? ` ${extra}` : ''}`;
    if (this.stream.isTTY) {
      const width = 24;
      const filled = Math.round(fraction(done, total) * width);
      this.stream.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${text}\u001b[K`);
    } else if (this.now() - this.lastPlainLine > 2000 || done >= total) {
      this.lastPlainLine = this.now();
      this.stream.write(`${text}\n`);
    }
  }

  /** A line of its own (a notice), without mangling a bar drawn in place. */
  message(text: string): void {
    if (this.stream.isTTY) this.stream.write(`\r\u001b[K`);
    this.stream.write(`${text}\n`);
  }

  finish(message: string): void {
    if (this.stream.isTTY) this.stream.write(`\r\u001b[K`);
    this.stream.write(`${message} (${formatSeconds((this.now() - this.started) / 1000)})\n`);
  }

  /** `42.0% 8400/20000 1015/s eta 11.4s`; `0/s, no progress for 12.0s` once it stalls. */
  private describe(done: number, total: number): string {
    const percent = `${(fraction(done, total) * 100).toFixed(1).padStart(5)}%`;
    const perSecond = this.rate.perSecond();
    const stalled = this.rate.stalledSeconds();
    const stalledAfter = Math.max(STALLED_AFTER_SECONDS, 3 * (this.rate.usualStepSeconds() ?? 0));
    let pace: string;
    if (done >= total) pace = perSecond === null ? '' : ` ${perSecond.toFixed(0)}/s`;
    else if (stalled >= stalledAfter) pace = ` 0/s, no progress for ${formatSeconds(stalled)}`;
    else if (perSecond === null || perSecond <= 0) pace = ' -/s eta ?';
    else pace = ` ${perSecond.toFixed(0)}/s eta ${formatSeconds((total - done) / perSecond)}`;
    return `${percent} ${done}/${total}${pace}`;
  }
}

function fraction(done: number, total: number): number {
  return total > 0 ? Math.min(1, done / total) : 0;
}

export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}
