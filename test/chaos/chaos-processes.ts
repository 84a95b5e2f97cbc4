import { type CliProcess, startCli } from '../helpers/cli-process.js';

/**
 * The vectorsync processes of a cell (workers, the dual-write service): real OS processes on
 * the real CLI, so a SIGKILL is a real crash. Each slot restarts on demand; outputs are kept
 * (their tail) for the report when something goes wrong.
 */
export class ChaosProcess {
  private current: CliProcess | undefined;
  private history = '';
  starts = 0;

  constructor(
    readonly name: string,
    private readonly config: unknown,
    private readonly args: string[],
  ) {}

  get pid(): number | undefined {
    return this.current?.child.pid;
  }

  get alive(): boolean {
    return (
      this.current !== undefined &&
      this.current.child.exitCode === null &&
      this.current.child.signalCode === null
    );
  }

  async start(): Promise<void> {
    if (this.alive) return;
    this.starts++;
    this.current = await startCli(this.config, this.args, { LOG_LEVEL: 'warn' });
  }

  /** SIGKILL: no shutdown, no cleanup, exactly like an OOM kill or a lost machine. */
  async kill(): Promise<void> {
    const process = this.current;
    if (!process || !this.alive) return;
    process.child.kill('SIGKILL');
    await process.exited;
    this.keepOutput(process);
  }

  /** A clean stop (SIGTERM): the process finishes what it holds and exits. */
  async stop(): Promise<void> {
    const process = this.current;
    if (!process) return;
    if (this.alive) {
      process.child.kill('SIGTERM');
      const timer = setTimeout(() => process.child.kill('SIGKILL'), 20_000);
      await process.exited;
      clearTimeout(timer);
    }
    this.keepOutput(process);
    this.current = undefined;
  }

  output(): string {
    return (this.history + (this.current?.output() ?? '')).slice(-3000);
  }

  private keepOutput(process: CliProcess): void {
    this.history = (this.history + process.output()).slice(-3000);
  }
}
