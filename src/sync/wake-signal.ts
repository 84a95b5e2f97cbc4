/**
 * Lets idle loops sleep until either a timeout or an explicit wake-up, whichever is first.
 * A wake-up that finds no loop waiting is kept for the next wait, which then returns at once:
 * a loop is never waiting when the reason to wake it arrives between its last check and its
 * wait (a NOTIFY during a claim that found nothing), and such a wake-up must not be lost until
 * the timeout. One loop is enough to act on a NOTIFY; stopping needs every loop, so `close()`
 * ends every wait, present and future, until `reset()`.
 */
export class WakeSignal {
  private waiters: Array<() => void> = [];
  private pending = false;
  private closed = false;

  wait(timeoutMs: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      const waiters = this.waiters;
      function done() {
        clearTimeout(timer);
        const index = waiters.indexOf(done);
        if (index >= 0) waiters.splice(index, 1);
        resolve();
      }
      this.waiters.push(done);
    });
  }

  /** Wakes the loops waiting now, or else the next one to wait. */
  wake(): void {
    if (this.waiters.length === 0) {
      this.pending = true;
      return;
    }
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  /** Wakes every loop, and every later wait returns at once (for stop()): no loop sleeps on. */
  close(): void {
    this.closed = true;
    this.pending = false;
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  /** Waits sleep again (a restarted worker). */
  reset(): void {
    this.closed = false;
    this.pending = false;
  }
}
