import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pruneDoneEvents } from '../src/outbox/outbox-queue.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { readSyncStatus } from '../src/status/sync-status.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import {
  createProductsTable,
  fastSync,
  insertProducts,
  openProductsRuntime,
  outboxDrained,
  products,
  productsConfig,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

describe('waking workers', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;

  before(async () => {
    testDb = await createTestDatabase('wakeup');
    await createProductsTable(testDb.db);
    runtime = await openProductsRuntime(testDb);
  });
  after(async () => {
    await runtime.close();
    await testDb.drop();
  });

  it('NOTIFY wakes an idle worker long before its sweep, and survives a killed LISTEN connection', async () => {
    // A sweep every minute: only NOTIFY (or the reconnect poll) can explain syncs within the
    // 30 s these waits allow (5 s was too short for a loaded machine, not a proof of anything more).
    const worker = new OutboxWorker({
      runtime,
      sync: { ...fastSync, wake: 'notify', sweepIntervalMs: 60_000 },
    });
    await worker.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 300)); // let the loop go idle
      await insertProducts(testDb.db, 'acme', products(5, 61));
      await waitFor(() => outboxDrained(testDb.db), {
        timeoutMs: 30_000,
        message: 'NOTIFY to wake the worker',
      });

      const killed = await testDb.db.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE '%-listen'`,
      );
      assert.equal(killed.rowCount, 1, 'exactly one LISTEN session');
      // The listener notices (heartbeat), reconnects with backoff, polls once and LISTENs again.
      await waitFor(
        async () =>
          (
            await testDb.db.query(
              `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE '%-listen' AND state = 'idle'`,
            )
          ).rowCount === 1,
        { timeoutMs: 30_000, message: 'the LISTEN session to come back' },
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      await insertProducts(testDb.db, 'acme', products(5, 62));
      await waitFor(() => outboxDrained(testDb.db), {
        timeoutMs: 30_000,
        message: 'NOTIFY to work again after reconnecting',
      });
    } finally {
      await worker.stop();
    }
  });

  it('a worker in pure polling mode needs no LISTEN connection', async () => {
    const listenSessions = async () =>
      (
        await testDb.db.query(
          `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE '%-listen'`,
        )
      ).rowCount;
    // The previous test's LISTEN session can still be listed for a moment after its worker
    // stopped (seen once under a CPU hog): counted then, it looked like this worker's.
    await waitFor(async () => (await listenSessions()) === 0, {
      message: "the previous worker's LISTEN session to end",
    });
    const worker = new OutboxWorker({ runtime, sync: { ...fastSync, wake: 'poll', pollIntervalMs: 100 } });
    await worker.start();
    try {
      assert.equal(await listenSessions(), 0);
      await insertProducts(testDb.db, 'acme', products(5, 63));
      await waitFor(() => outboxDrained(testDb.db), { message: 'polling to pick the events up' });
    } finally {
      await worker.stop();
    }
  });

  it('reports queue depth and age while nothing runs, and prunes done events past retention', async () => {
    await insertProducts(testDb.db, 'globex', products(3, 64));
    await waitFor(async () => (await readSyncStatus(runtime)).collections[0]!.oldestPendingSeconds > 0.2, {
      message: 'pending age to grow',
    });
    const status = (await readSyncStatus(runtime)).collections[0]!;
    assert.equal(status.pending, 3);
    assert.ok(status.lag.samples >= 15, 'lag samples from the earlier syncs');
    assert.ok(status.lag.p50Ms! >= 0 && status.lag.p95Ms! >= status.lag.p50Ms!);

    const doneBefore = (
      await testDb.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM vectorsync.outbox WHERE status = 'done'`,
      )
    ).rows[0]!.n;
    assert.ok(doneBefore >= 15);
    assert.equal(await pruneDoneEvents(testDb.db, 1), 0, 'nothing is older than an hour');
    assert.equal(await pruneDoneEvents(testDb.db, 0, 4), doneBefore, 'in chunks, every done event');
    const remaining = await testDb.db.query<{ status: string }>(
      'SELECT DISTINCT status FROM vectorsync.outbox',
    );
    assert.deepEqual(
      remaining.rows.map((row) => row.status),
      ['pending'],
      'pending events are never pruned',
    );
  });

  it('drains a backlog with several loops and reports per-batch outcomes', async () => {
    const config = productsConfig(testDb, { sync: { ...fastSync, concurrency: 3, batchSize: 7 } });
    const worker = new OutboxWorker({ runtime, sync: config.sync });
    let done = 0;
    worker.on('batch', (report) => {
      assert.ok(report.claimed <= 7);
      done += report.done;
    });
    await insertProducts(testDb.db, 'globex', products(60, 65));
    await worker.start();
    try {
      await waitFor(() => outboxDrained(testDb.db), { message: 'backlog to drain' });
    } finally {
      await worker.stop();
    }
    assert.equal(done, 63);
  });
});
