import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { demoConfig } from '../src/demo/demo-schema.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
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

/** The advisory lock (one bigint key) that the trigger on the index table waits for. */
const BLOCK_KEY = 7_300_011;

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
    // A write that brings the index to 40 rows (the second batch of 20) waits for an advisory lock
    // the test holds: the worker is then provably inside a batch, holding its claimed events, when
    // it is killed.
    // (A sleep in the trigger only made that likely; the worker could finish its batch first.)
    const lock = new pg.Client({ connectionString: testDb.url, application_name: 'vectorsync-test-lock' });
    await lock.connect();
    let worker: Awaited<ReturnType<typeof startWorkerProcess>> | undefined;
    try {
      await lock.query('SELECT pg_advisory_lock($1)', [BLOCK_KEY]);
      await testDb.db.query(`
        CREATE FUNCTION public.block_index_write() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF (SELECT count(*) FROM vectorsync."${location}") >= 40 THEN
            PERFORM pg_advisory_xact_lock_shared(${BLOCK_KEY});
          END IF;
          RETURN NULL;
        END $$;
        CREATE TRIGGER block AFTER INSERT OR UPDATE ON vectorsync."${location}" FOR EACH STATEMENT EXECUTE FUNCTION public.block_index_write();`);
      await insertProducts(testDb.db, 'acme', products(200, 11));

      const started = await startWorkerProcess({
        ...demoConfig({ dimensions: 64 }),
        databaseUrl: testDb.url,
        sync: { ...fastSync, batchSize: 20, concurrency: 1 },
      });
      worker = started;
      // Its backend waits on our lock (a pg_locks row not granted, on our key), inside the write
      // of a batch whose events it claimed; it cannot finish or claim more while we hold the lock.
      const blocked = await waitFor(
        async () => {
          const result = await testDb.db.query<{ pid: number }>(
            `SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
              WHERE a.datname = current_database() AND a.wait_event_type = 'Lock' AND a.wait_event = 'advisory'
                AND l.locktype = 'advisory' AND NOT l.granted AND l.classid = 0 AND l.objid = $1 AND l.objsubid = 1`,
            [BLOCK_KEY],
          );
          return result.rows[0];
        },
        {
          timeoutMs: 60_000,
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
      await lock.query('SELECT pg_advisory_unlock($1)', [BLOCK_KEY]);
      await waitFor(
        async () =>
          (await testDb.db.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [blocked.pid])).rowCount ===
          0,
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
      const retried = await testDb.db.query<{ attempts: number; status: string }>(
        'SELECT attempts, status FROM vectorsync.outbox WHERE id = ANY($1::bigint[])',
        [inFlight],
      );
      assert.ok(
        retried.rows.every((row) => row.status === 'done' && row.attempts === 2),
        JSON.stringify(retried.rows),
      );
      const failed = await testDb.db.query(`SELECT 1 FROM vectorsync.outbox WHERE status <> 'done'`);
      assert.equal(failed.rowCount, 0);
    } finally {
      // A failed assertion must not leave the worker behind (running or blocked on our lock).
      if (worker && worker.child.exitCode === null && worker.child.signalCode === null) {
        worker.child.kill('SIGKILL');
        await worker.exited;
      }
      await lock.end();
    }
  });
});
