/**
 * Lets idle loops sleep until either a timeout or an explicit wake-up, whichever is first.
 * A wake-up that finds no loop waiting is kept for the next wait, which then returns at once:
 * a loop is never waiting when the reason to wake it arrives between its last check and its
 * wait (a NOTIFY during a claim that found nothing, stop() during the idle-time query), and
 * such a wake-up must not be lost until the timeout.
 */
export class WakeSignal {
  private waiters: Array<() => void> = [];
  private pending = false;

  wait(timeoutMs: number): Promise<void> {
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

  wake(): void {
    if (this.waiters.length === 0) {
      this.pending = true;
      return;
    }
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}
