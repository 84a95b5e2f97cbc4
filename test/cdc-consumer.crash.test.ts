import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { slotInfo } from '../src/capture/cdc/cdc-setup.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { CHILD_PROCESS_WAIT_MS } from './helpers/child-processes.js';
import { startContinuousWriter } from './helpers/continuous-writer.js';
import { IndexWriteGate } from './helpers/index-write-gate.js';
import {
  assertIndexMatchesSource,
  createProductsTable,
  indexMatchesSource,
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
    // Once the index holds 30 rows, index writes wait at a gate the test holds shut: the consumer
    // is then provably applying a batch it has not confirmed when it is killed. (A sleep in the
    // trigger only made that likely.)
    const gate = await IndexWriteGate.shut(testDb, location, 30);
    await insertProducts(testDb.db, 'acme', products(150, 21));
    const writer = startContinuousWriter(testDb.db, { seed: 5, pauseMs: 5 });
    let second: Awaited<ReturnType<typeof startWorkerProcess>> | undefined;
    const first = await startWorkerProcess(config);
    try {
      const blocked = await waitFor(
        async () => {
          const pids = await gate.blocked();
          return pids.length > 0 ? pids : undefined;
        },
        {
          timeoutMs: CHILD_PROCESS_WAIT_MS,
          message: () => `the consumer to block while applying; its output: ${first.output()}`,
        },
      );
      first.child.kill('SIGKILL');
      assert.equal(await first.exited, null, 'killed, not exited');
      const atKill = await slotInfo(testDb.db, config.cdc.slot);
      assert.ok(atKill, 'the permanent slot survives its consumer');
      assert.ok(atKill.lagBytes > 0, 'changes were still unconfirmed when the consumer died');
      // Its orphaned backends run on and end when they find the client gone.
      await gate.open();
      await waitFor(
        async () =>
          (await testDb.db.query('SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1)', [blocked]))
            .rowCount === 0,
        { message: "the killed consumer's backends to end" },
      );

      // Changes keep coming while no consumer runs; the slot keeps them.
      await waitFor(() => writer.stats.inserts > 40);
      const restarted = await startWorkerProcess(config);
      second = restarted;
      await waitFor(() => writer.stats.inserts > 80);
      const stats = await writer.stop();
      assert.ok(stats.updates > 0 && stats.deletes > 0);
      await gate.remove();
      await waitFor(() => indexMatchesSource(testDb.db, location), {
        timeoutMs: CHILD_PROCESS_WAIT_MS,
        message: async () =>
          `the restarted consumer to catch up: ${await assertIndexMatchesSource(testDb.db, location).catch((e) => e.message)}\n${restarted.output()}`,
      });
    } finally {
      await writer.stop();
      // A failed assertion must not leave a consumer behind (the first one may be blocked at the gate).
      for (const consumer of [first, second]) {
        if (consumer && consumer.child.exitCode === null && consumer.child.signalCode === null) {
          consumer.child.kill(consumer === first ? 'SIGKILL' : 'SIGTERM');
          await consumer.exited;
        }
      }
      await gate.remove();
    }
    const failed = await testDb.db.query(`SELECT 1 FROM vectorsync.outbox WHERE status = 'failed'`);
    assert.equal(failed.rowCount, 0);
  });
});
