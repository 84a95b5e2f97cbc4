/**
 * A one-line progress bar for long CLI operations, redrawn in place on a TTY and printed as
 * periodic plain lines otherwise (CI logs, pipes).
 */
export class ProgressBar {
  private readonly started = Date.now();
  private lastPlainLine = 0;

  constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  update(done: number, total: number, extra = ''): void {
    const fraction = total > 0 ? Math.min(1, done / total) : 0;
    const elapsed = (Date.now() - this.started) / 1000;
    const rate = elapsed > 0 ? done / elapsed : 0;
    const eta = rate > 0 && total > done ? (total - done) / rate : 0;
    const percent = `${(fraction * 100).toFixed(1).padStart(5)}%`;
    const text = `${this.label} ${percent} ${done}/${total} ${rate.toFixed(0)}/s eta ${formatSeconds(eta)}${extra ? ` ${extra}` : ''}`;
    if (this.stream.isTTY) {
      const width = 24;
      const filled = Math.round(fraction * width);
      this.stream.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${text}\u001b[K`);
    } else if (Date.now() - this.lastPlainLine > 2000 || done >= total) {
      this.lastPlainLine = Date.now();
      this.stream.write(`${text}\n`);
    }
  }

  finish(message: string): void {
    if (this.stream.isTTY) this.stream.write(`\r\u001b[K`);
    this.stream.write(`${message} (${formatSeconds((Date.now() - this.started) / 1000)})\n`);
  }
}

export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}
