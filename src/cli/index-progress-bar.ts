import { formatDuration } from '../config/duration.js';
import type { BuildProgress } from '../indexops/build-progress.js';

/**
 * The progress of an index build on stderr: redrawn in place on a TTY, a plain line every few
 * seconds (and on every phase change) otherwise, so CI logs and pipes stay readable.
 */
export class IndexProgressBar {
  private lastPlainAt = 0;
  private lastPhase = '';
  private drawn = false;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  update(progress: BuildProgress, label: string): void {
    const percent = `${(progress.fraction * 100).toFixed(1).padStart(5)}%`;
    const rate = progress.rowsPerMinute === null ? '-' : `${Math.round(progress.rowsPerMinute)} rows/min`;
    const eta = progress.etaSeconds === null ? '?' : formatDuration(progress.etaSeconds * 1000);
    const expected =
      progress.expectedSeconds === null ? '' : ` expected ${formatDuration(progress.expectedSeconds * 1000)}`;
    const slow = progress.slowerThanPredicted ? ' SLOWER THAN PREDICTED' : '';
    const workers = progress.workers > 0 ? ` ${progress.workers} workers` : '';
    const text = `${label} ${percent} ${progress.phase} ${progress.rowsDone}/${progress.rowsTotal} rows ${rate} eta ${eta} elapsed ${formatDuration(progress.elapsedSeconds * 1000)}${expected}${workers}${slow}`;
    if (this.stream.isTTY) {
      const width = 24;
      const filled = Math.round(progress.fraction * width);
      this.stream.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${text}\u001b[K`);
      this.drawn = true;
      if (progress.phase === 'done') this.newline();
      return;
    }
    const now = Date.now();
    if (progress.phase !== this.lastPhase || now - this.lastPlainAt >= 2000 || progress.phase === 'done') {
      this.lastPlainAt = now;
      this.lastPhase = progress.phase;
      this.stream.write(`${text}\n`);
    }
  }

  /** A message on its own line (warnings, steps), without mangling a bar drawn in place. */
  message(text: string): void {
    this.newline();
    this.stream.write(`${text}\n`);
  }

  private newline(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}
