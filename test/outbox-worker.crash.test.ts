import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { demoConfig } from '../src/demo/demo-schema.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import { CHILD_PROCESS_WAIT_MS } from './helpers/child-processes.js';
import { IndexWriteGate } from './helpers/index-write-gate.js';
import {
  assertIndexMatchesSource,
  createProductsTable,
  fastSync,
  indexRows,
  insertProducts,
  openProductsRuntime,
  outboxDrained,
  products,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';
import { startWorkerProcess } from './helpers/worker-process.js';

async function processingIds(testDb: TestDatabase): Promise<string[]> {
  const result = await testDb.db.query<{ id: string }>(
    `SELECT id::text AS id FROM vectorsync.outbox WHERE status = 'processing' ORDER BY id`,
  );
  return result.rows.map((row) => row.id);
}

describe('a worker process killed with SIGKILL mid-batch', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;

  before(async () => {
    testDb = await createTestDatabase('worker_crash');
    await createProductsTable(testDb.db);
    runtime = await openProductsRuntime(testDb);
  });
  after(async () => {
    await runtime.close();
    await testDb.drop();
  });

  it('loses nothing and duplicates nothing: its claimed events are re-applied by another worker', async () => {
    const location = runtime.activeTarget('products').record.location;
    // A write that brings the index to 40 rows (the second batch of 20) waits at a gate the test
    // holds shut: the worker is then provably inside a batch, holding its claimed events, when it
    // is killed. (A sleep in the trigger only made that likely; the worker could finish first.)
    const gate = await IndexWriteGate.shut(testDb, location, 40);
    let worker: Awaited<ReturnType<typeof startWorkerProcess>> | undefined;
    try {
      await insertProducts(testDb.db, 'acme', products(200, 11));
      const started = await startWorkerProcess({
        ...demoConfig({ dimensions: 64 }),
        databaseUrl: testDb.url,
        sync: { ...fastSync, batchSize: 20, concurrency: 1 },
      });
      worker = started;
      // It cannot finish that batch or claim another while the gate is shut.
      const blocked = await waitFor(
        async () => {
          const pids = await gate.blocked();
          return pids.length > 0 ? pids : undefined;
        },
        {
          timeoutMs: CHILD_PROCESS_WAIT_MS,
          message: () => `the worker process to block inside a batch; its output: ${started.output()}`,
        },
      );
      // Batch 1 (20 rows) was applied; batch 2 is the one held up, all 20 of its events claimed.
      const inFlight = await processingIds(testDb);
      assert.equal(inFlight.length, 20, 'the worker held a claimed batch when it died');
      assert.equal((await indexRows(testDb.db, location)).size, 20, 'the batch before it was applied');
      started.child.kill('SIGKILL');
      assert.equal(await started.exited, null, 'killed, not exited');
      // Still blocked: its backend has not noticed that its client is gone.
      assert.deepEqual(await processingIds(testDb), inFlight, 'the dead worker still holds its batch');

      // Let the orphaned backend run on: its transaction ends when it finds the client gone.
      await gate.open();
      await waitFor(
        async () =>
          (await testDb.db.query('SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1)', [blocked]))
            .rowCount === 0,
        { message: "the killed worker's backend to end" },
      );

      // A second worker notices the dead one stopped heartbeating and takes its events over.
      const survivor = new OutboxWorker({ runtime });
      await survivor.start();
      try {
        await waitFor(() => outboxDrained(testDb.db), {
          timeoutMs: 30_000,
          message: 'the survivor to drain the outbox',
        });
      } finally {
        await survivor.stop();
      }
      const { rows } = await assertIndexMatchesSource(testDb.db, location);
      assert.equal(rows, 200);
      assert.equal((await indexRows(testDb.db, location)).size, 200, 'one record per source row');
      // The interrupted attempt does not count; the crash does (each was then claimed alone).
      const retried = await testDb.db.query<{ attempts: number; crashes: number; status: string }>(
        'SELECT attempts, crashes, status FROM vectorsync.outbox WHERE id = ANY($1::bigint[])',
        [inFlight],
      );
      assert.ok(
        retried.rows.every((row) => row.status === 'done' && row.attempts === 1 && row.crashes === 1),
        JSON.stringify(retried.rows),
      );
      const failed = await testDb.db.query(`SELECT 1 FROM vectorsync.outbox WHERE status <> 'done'`);
      assert.equal(failed.rowCount, 0);
    } finally {
      // A failed assertion must not leave the worker behind (running or blocked at the gate).
      if (worker && worker.child.exitCode === null && worker.child.signalCode === null) {
        worker.child.kill('SIGKILL');
        await worker.exited;
      }
      await gate.remove();
    }
  });
});
