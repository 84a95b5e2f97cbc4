import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { ProgressBar } from '../src/cli/progress-bar.js';

/** A stream that keeps what the bar printed; as a terminal, every update is drawn. */
function capture(tty = true): { stream: NodeJS.WriteStream; lines: () => string[] } {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      text += chunk;
      callback();
    },
  }) as unknown as NodeJS.WriteStream;
  stream.isTTY = tty;
  // The last state of each drawn line, without the bar and the erase-to-end-of-line.
  const lines = () =>
    text
      .split(/[\r\n]/)
      .map((line) => line.replace(/^\[[#-]+\] /, '').replace('\u001b[K', ''))
      .filter(Boolean);
  return { stream, lines };
}

describe('progress bar rate and ETA', () => {
  it('shows the current rate, not an average that counts the idle time before work began', () => {
    let now = 0;
    const { stream, lines } = capture();
    const bar = new ProgressBar('sync', stream, { now: () => now });
    // Three minutes with nothing applied (no worker yet), then 1,000 events/s.
    while (now < 180_000) {
      now += 250;
      bar.update(0, 60_000);
    }
    let done = 0;
    for (let step = 0; step < 120; step++) {
      now += 250;
      done += 250;
      bar.update(done, 60_000);
    }
    const last = lines().at(-1)!;
    // 30,000 left at 1,000/s: 30 s. The average since the start would say 143/s and 3m30s.
    assert.match(last, /50\.0% 30000\/60000 1000\/s eta 30\.0s$/);
  });

  it('says so when nothing moves, instead of an ETA', () => {
    let now = 0;
    const { stream, lines } = capture();
    const bar = new ProgressBar('sync', stream, { now: () => now });
    for (let done = 0; done <= 500; done += 100, now += 1000) bar.update(done, 1000);
    for (let step = 0; step < 30; step++, now += 1000) bar.update(500, 1000);
    assert.match(lines().at(-1)!, /50\.0% 500\/1000 0\/s, no progress for \d+\.\ds$/);
  });

  it('does not call the pause between two large batches a stall', () => {
    let now = 0;
    const { stream, lines } = capture();
    const bar = new ProgressBar('sync', stream, { now: () => now });
    // 500 events every 6 s (a slow embedder), polled every 250 ms.
    for (let done = 0; done <= 3000; done += 500)
      for (let poll = 0; poll < 24; poll++, now += 250) bar.update(done, 10_000);
    const drawn = lines();
    assert.ok(
      drawn.every((line) => !line.includes('no progress')),
      drawn.find((line) => line.includes('no progress')),
    );
    assert.match(drawn.at(-1)!, /30\.0% 3000\/10000 83\/s eta 1m24s$/);
  });

  it('has no rate before a second of samples', () => {
    let now = 0;
    const { stream, lines } = capture(false);
    const bar = new ProgressBar('sync', stream, { now: () => now });
    bar.update(0, 10);
    now += 100;
    bar.update(10, 10);
    assert.deepEqual(lines(), ['sync   0.0% 0/10 -/s eta ?', 'sync 100.0% 10/10']);
  });
});
