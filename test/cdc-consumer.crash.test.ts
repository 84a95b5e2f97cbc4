import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { slotInfo } from '../src/capture/cdc/cdc-setup.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { startContinuousWriter } from './helpers/continuous-writer.js';
import {
  assertIndexMatchesSource,
  createProductsTable,
  indexMatchesSource,
  indexRows,
  insertProducts,
  openProductsRuntime,
  products,
  productsConfigWith,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';
import { startWorkerProcess } from './helpers/worker-process.js';

describe('a CDC consumer process killed with SIGKILL mid-stream', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;

  before(async () => {
    testDb = await createTestDatabase('cdc_crash');
    await createProductsTable(testDb.db);
    runtime = await openProductsRuntime(testDb, { config: productsConfigWith(testDb, { mode: 'cdc' }) });
  });
  after(async () => {
    await runtime.close();
    await testDb.drop();
  });

  it('resumes from the last confirmed position: nothing lost, nothing stale', async () => {
    const config = productsConfigWith(testDb, { mode: 'cdc', cdc: { batchSize: 20 } });
    const location = runtime.activeTarget('products').record.location;
    // Each index write takes 100 ms, so the kill lands while changes are being applied.
    await testDb.db.query(`
      CREATE FUNCTION public.slow_index_write() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(0.1); RETURN NULL; END $$;
      CREATE TRIGGER slow AFTER INSERT OR UPDATE ON vectorsync."${location}" FOR EACH STATEMENT EXECUTE FUNCTION public.slow_index_write();`);
    await insertProducts(testDb.db, 'acme', products(150, 21));
    const writer = startContinuousWriter(testDb.db, { seed: 5, pauseMs: 5 });

    const first = await startWorkerProcess(config);
    await waitFor(async () => (await indexRows(testDb.db, location)).size >= 30, {
      timeoutMs: 30_000,
      message: () => `the consumer to be mid-stream; its output: ${first.output()}`,
    });
    first.child.kill('SIGKILL');
    assert.equal(await first.exited, null, 'killed, not exited');
    const atKill = await slotInfo(testDb.db, config.cdc.slot);
    assert.ok(atKill, 'the permanent slot survives its consumer');
    assert.ok(atKill.lagBytes > 0, 'changes were still unconfirmed when the consumer died');

    // Changes keep coming while no consumer runs; the slot keeps them.
    await waitFor(() => writer.stats.inserts > 40);
    const second = await startWorkerProcess(config);
    try {
      await waitFor(() => writer.stats.inserts > 80);
      const stats = await writer.stop();
      assert.ok(stats.updates > 0 && stats.deletes > 0);
      await testDb.db.query('DROP TRIGGER slow ON vectorsync."' + location + '"');
      await waitFor(() => indexMatchesSource(testDb.db, location), {
        timeoutMs: 60_000,
        message: async () =>
          `the restarted consumer to catch up: ${await assertIndexMatchesSource(testDb.db, location).catch((e) => e.message)}\n${second.output()}`,
      });
    } finally {
      await writer.stop();
      second.child.kill('SIGTERM');
      await second.exited;
    }
    const failed = await testDb.db.query(`SELECT 1 FROM vectorsync.outbox WHERE status = 'failed'`);
    assert.equal(failed.rowCount, 0);
  });
});
