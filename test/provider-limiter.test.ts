import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProviderLimiter, parseResetDuration, retryAfterMs } from '../src/embedders/provider-limiter.js';
import { ErrorCode, isVectorsyncError } from '../src/errors.js';

/** A clock that only moves when the limiter sleeps: the schedule is exact, and no test waits. */
function virtualTime() {
  let now = 1_000_000;
  const sleeps: number[] = [];
  return {
    clock: () => now,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      now += ms;
    },
    advance: (ms: number) => {
      now += ms;
    },
    sleeps,
  };
}

describe('provider limiter', () => {
  it("reads OpenAI's reset durations and Retry-After in its three spellings", () => {
    assert.equal(parseResetDuration('1s'), 1000);
    assert.equal(parseResetDuration('6m0s'), 360_000);
    assert.equal(parseResetDuration('20ms'), 20);
    assert.equal(parseResetDuration('1h2m3.5s'), 3_723_500);
    assert.equal(parseResetDuration('2'), 2000);
    assert.equal(parseResetDuration('soon'), undefined);
    assert.equal(parseResetDuration('5s later'), undefined);
    assert.equal(retryAfterMs(new Headers({ 'retry-after-ms': '250' })), 250);
    assert.equal(retryAfterMs(new Headers({ 'retry-after': '3' })), 3000);
    const date = new Date(Date.now() + 10_000).toUTCString();
    const fromDate = retryAfterMs(new Headers({ 'retry-after': date }))!;
    assert.ok(fromDate > 8000 && fromDate <= 10_000, String(fromDate));
    assert.equal(retryAfterMs(new Headers()), undefined);
  });

  it('spaces requests to the configured requests per minute', async () => {
    const time = virtualTime();
    const limiter = new ProviderLimiter(
      'p',
      { requestsPerMinute: 60, concurrency: 10, maxWaitMs: 5000 },
      time.clock,
      time.sleep,
    );
    for (let i = 0; i < 60; i++) (await limiter.acquire(1))();
    assert.deepEqual(time.sleeps, [], 'a full bucket lets a minute of requests through at once');
    (await limiter.acquire(1))();
    assert.equal(time.sleeps.length, 1);
    assert.ok(Math.abs(time.sleeps[0]! - 1000) <= 1, `one request a second after that: ${time.sleeps[0]}`);
  });

  it('a large request under a small tokens-per-minute limit waits for the debt, or is deferred past maxWaitMs', async () => {
    const time = virtualTime();
    const limiter = new ProviderLimiter(
      'p',
      { tokensPerMinute: 6000, concurrency: 2, maxWaitMs: 3000 },
      time.clock,
      time.sleep,
    );
    (await limiter.acquire(6000))();
    (await limiter.acquire(200))();
    assert.ok(Math.abs(time.sleeps[0]! - 2000) <= 1, `200 tokens at 100 a second: ${time.sleeps[0]}`);
    await assert.rejects(limiter.acquire(1000), (error) => {
      assert.ok(isVectorsyncError(error, ErrorCode.EmbedderRateLimited));
      assert.equal(error.transient, true);
      assert.ok((error.details.retryAfterMs as number) >= 9000);
      return true;
    });
    assert.equal(limiter.state().deferred, 1);
  });

  it('a 429 blocks the provider for the time it names and halves the rate; successes win it back', async () => {
    const time = virtualTime();
    const limiter = new ProviderLimiter('p', { concurrency: 4, maxWaitMs: 500 }, time.clock, time.sleep);
    const wait = limiter.throttledBy(new Headers({ 'retry-after-ms': '400' }), 10_000);
    assert.equal(wait, 400);
    assert.equal(limiter.state().rateFactor, 0.5);
    (await limiter.acquire(1))();
    assert.deepEqual(time.sleeps, [400], 'waited inline: shorter than maxWaitMs');
    limiter.throttledBy(
      new Headers({ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '6m0s' }),
      10,
    );
    await assert.rejects(limiter.acquire(1), (error) =>
      isVectorsyncError(error, ErrorCode.EmbedderRateLimited),
    );
    assert.equal(limiter.state().throttled, 2);
    assert.equal(limiter.state().rateFactor, 0.25);
    time.advance(360_000);
    for (let i = 0; i < 10; i++) {
      const release = await limiter.acquire(1);
      limiter.succeeded(new Headers());
      release();
    }
    assert.equal(limiter.state().rateFactor, 1);
  });

  it('remaining-zero headers on a success block until their reset', async () => {
    const time = virtualTime();
    const limiter = new ProviderLimiter('p', { concurrency: 4, maxWaitMs: 60_000 }, time.clock, time.sleep);
    limiter.succeeded(
      new Headers({ 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '1.5s' }),
    );
    (await limiter.acquire(10))();
    assert.deepEqual(time.sleeps, [1500]);
  });

  it('holds at most `concurrency` requests in flight; a slot not free within maxWaitMs defers', async () => {
    const limiter = new ProviderLimiter('p', { concurrency: 2, maxWaitMs: 60_000 });
    const first = await limiter.acquire(1);
    const second = await limiter.acquire(1);
    let thirdIn = false;
    const third = limiter.acquire(1).then((release) => {
      thirdIn = true;
      return release;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(thirdIn, false);
    assert.equal(limiter.state().inFlight, 2);
    first();
    (await third)();
    assert.equal(thirdIn, true);
    second();
    assert.equal(limiter.state().inFlight, 0);

    const impatient = new ProviderLimiter('p', { concurrency: 1, maxWaitMs: 30 });
    const held = await impatient.acquire(1);
    await assert.rejects(impatient.acquire(1), (error) =>
      isVectorsyncError(error, ErrorCode.EmbedderRateLimited),
    );
    held();
    (await impatient.acquire(1))();
    assert.equal(impatient.state().inFlight, 0, 'a deferred caller holds nothing');
  });

  it('concurrent callers cannot all take one full bucket', async () => {
    const time = virtualTime();
    const limiter = new ProviderLimiter(
      'p',
      { requestsPerMinute: 2, concurrency: 10, maxWaitMs: 0 },
      time.clock,
      time.sleep,
    );
    const outcomes = await Promise.allSettled(Array.from({ length: 10 }, () => limiter.acquire(1)));
    assert.equal(outcomes.filter((outcome) => outcome.status === 'fulfilled').length, 2);
    assert.equal(limiter.state().deferred, 8);
  });

  it('a caller queued behind a slot honours a block the provider set meanwhile', async () => {
    const time = virtualTime();
    const limiter = new ProviderLimiter('p', { concurrency: 1, maxWaitMs: 5000 }, time.clock, time.sleep);
    const first = await limiter.acquire(1);
    const queued = limiter.acquire(1);
    limiter.throttledBy(new Headers({ 'retry-after': '30' }), 10);
    first();
    await assert.rejects(queued, (error) => {
      assert.ok(isVectorsyncError(error, ErrorCode.EmbedderRateLimited));
      assert.ok((error.details.retryAfterMs as number) >= 29_000);
      return true;
    });
    assert.equal(limiter.state().inFlight, 0);
  });
});
