import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WakeSignal } from '../src/sync/wake-signal.js';

/** Which settles first: the wait, or a macrotask queued now (no clock involved). */
async function settlesBeforeNextTask(wait: Promise<void>): Promise<boolean> {
  return Promise.race([
    wait.then(() => true),
    new Promise<boolean>((resolve) => setImmediate(() => resolve(false))),
  ]);
}

describe('WakeSignal', () => {
  it('wakes every waiting loop', async () => {
    const signal = new WakeSignal();
    const waits = [signal.wait(3_600_000), signal.wait(3_600_000)];
    signal.wake();
    assert.deepEqual(await Promise.all(waits.map(settlesBeforeNextTask)), [true, true]);
  });

  it('keeps a wake-up that found no loop waiting for the next wait (a NOTIFY between a claim and the wait)', async () => {
    const signal = new WakeSignal();
    signal.wake();
    assert.equal(await settlesBeforeNextTask(signal.wait(3_600_000)), true, 'the early wake-up is not lost');
    // Used up: the wait after it sleeps until its timeout or the next wake-up.
    const later = signal.wait(3_600_000);
    assert.equal(await settlesBeforeNextTask(later), false);
    signal.wake();
    assert.equal(await settlesBeforeNextTask(later), true);
  });

  it('close() ends every wait, including those of loops not waiting yet, until reset() (stop() with several loops)', async () => {
    const signal = new WakeSignal();
    const waiting = signal.wait(3_600_000);
    // One loop waits, another is still between its claim and its wait: wake() would only reach
    // the first, and the second would sleep until its timeout.
    signal.close();
    assert.equal(await settlesBeforeNextTask(waiting), true);
    assert.equal(await settlesBeforeNextTask(signal.wait(3_600_000)), true, 'the late loop does not sleep');
    assert.equal(await settlesBeforeNextTask(signal.wait(3_600_000)), true, 'nor does any later wait');
    signal.reset();
    const restarted = signal.wait(3_600_000);
    assert.equal(await settlesBeforeNextTask(restarted), false, 'a restarted loop sleeps again');
    signal.wake();
    await restarted;
  });
});
