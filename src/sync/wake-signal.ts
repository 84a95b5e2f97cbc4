/** Lets idle loops sleep until either a timeout or an explicit wake-up, whichever is first. */
export class WakeSignal {
  private waiters: Array<() => void> = [];

  wait(timeoutMs: number): Promise<void> {
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
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}
