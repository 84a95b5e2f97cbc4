import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
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
    // Each index write takes 150 ms, so the kill lands inside a batch.
    await testDb.db.query(`
      CREATE FUNCTION public.slow_index_write() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(0.15); RETURN NULL; END $$;
      CREATE TRIGGER slow AFTER INSERT OR UPDATE ON vectorsync."${location}" FOR EACH STATEMENT EXECUTE FUNCTION public.slow_index_write();`);
    await insertProducts(testDb.db, 'acme', products(200, 11));

    const worker = await startWorkerProcess({
      ...demoConfig({ dimensions: 64 }),
      databaseUrl: testDb.url,
      sync: { ...fastSync, batchSize: 20, concurrency: 1 },
    });
    const processingIds = async () =>
      (
        await testDb.db.query<{ id: string }>(
          `SELECT id::text AS id FROM vectorsync.outbox WHERE status = 'processing'`,
        )
      ).rows.map((row) => row.id);
    await waitFor(
      async () => (await indexRows(testDb.db, location)).size >= 40 && (await processingIds()).length > 0,
      {
        timeoutMs: 30_000,
        message: () => `the worker process to be mid-batch; its output: ${worker.output()}`,
      },
    );
    // Freeze it first so the set of in-flight events cannot change before the kill.
    worker.child.kill('SIGSTOP');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const inFlight = await processingIds();
    assert.ok(inFlight.length > 0, 'the worker held a claimed batch when it died');
    worker.child.kill('SIGKILL');
    assert.equal(await worker.exited, null, 'killed, not exited');
    const indexedAtKill = (await indexRows(testDb.db, location)).size;
    assert.ok(indexedAtKill < 200, 'the kill happened before the work was done');

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
  });
});
