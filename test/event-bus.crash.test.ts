import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ResolvedConfig } from '../src/config/resolve-config.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { RawJetStream, testBusConfig } from './helpers/bus-fixture.js';
import { CHILD_PROCESS_WAIT_MS } from './helpers/child-processes.js';
import { startContinuousWriter } from './helpers/continuous-writer.js';
import { IndexWriteGate } from './helpers/index-write-gate.js';
import {
  assertIndexMatchesSource,
  createProductsTable,
  indexMatchesSource,
  indexRows,
  insertProducts,
  openProductsRuntime,
  outboxDrained,
  products,
  productsConfigWith,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';
import { startWorkerProcess } from './helpers/worker-process.js';

describe('a bus-consuming worker process killed with SIGKILL mid-stream', () => {
  let testDb: TestDatabase;
  let config: ResolvedConfig;
  let runtime: VectorsyncRuntime;
  let raw: RawJetStream;

  before(async () => {
    testDb = await createTestDatabase('bus_crash');
    await createProductsTable(testDb.db);
    // Small batches and a short ack wait: the kill lands between acknowledgements, and the
    // unacknowledged messages come back to the restarted consumer within seconds.
    config = productsConfigWith(testDb, {
      mode: 'outbox',
      bus: testBusConfig(testDb, { ackWaitMs: 1500 }),
      sync: { batchSize: 10 },
    });
    runtime = await openProductsRuntime(testDb, { config });
    raw = await RawJetStream.connect(config.bus!.url, config.bus!.stream);
  });
  after(async () => {
    await raw.deleteStream();
    await raw.close();
    await runtime.close();
    await testDb.drop();
  });

  it('redelivers what the dead consumer had not acknowledged: nothing lost, nothing stale', async () => {
    const location = runtime.activeTarget('products').record.location;
    const durable = `${config.bus!.consumer}_products`;
    // Once the index holds 30 rows, index writes wait at a gate the test holds shut: the consumer
    // is then provably applying messages it has not acknowledged (ack after apply) when it is
    // killed. (A sleep in the trigger only made that likely.)
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
          message: () => `the bus consumer to block while applying; its output: ${first.output()}`,
        },
      );
      first.child.kill('SIGKILL');
      assert.equal(await first.exited, null, 'killed, not exited');
      const atKill = await raw.consumerInfo(durable);
      assert.ok(
        atKill.num_pending + atKill.num_ack_pending > 0,
        'events were still unapplied when the consumer died',
      );
      // Its orphaned backends run on and end when they find the client gone.
      await gate.open();
      await waitFor(
        async () =>
          (await testDb.db.query('SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1)', [blocked]))
            .rowCount === 0,
        { message: "the killed consumer's backends to end" },
      );
      const appliedAtKill = (await indexRows(testDb.db, location)).size;

      // Changes keep coming while no worker runs; the outbox keeps them until one publishes.
      await waitFor(() => writer.stats.inserts > 40);
      const restarted = await startWorkerProcess(config);
      second = restarted;
      await waitFor(() => writer.stats.inserts > 80);
      const stats = await writer.stop();
      assert.ok(stats.updates > 0 && stats.deletes > 0 && stats.errors === 0);
      await gate.remove();
      await waitFor(() => indexMatchesSource(testDb.db, location), {
        timeoutMs: CHILD_PROCESS_WAIT_MS,
        message: async () =>
          `the restarted consumer to catch up: ${await assertIndexMatchesSource(testDb.db, location).catch((e) => e.message)}\n${restarted.output()}`,
      });
      await waitFor(() => outboxDrained(testDb.db), { message: 'every outbox event to be published' });
      await waitFor(
        async () => {
          const info = await raw.consumerInfo(durable);
          return info.num_pending === 0 && info.num_ack_pending === 0;
        },
        { message: 'the restarted consumer to acknowledge every event' },
      );
      // Versions and tenants equal the source's (assertIndexMatchesSource compares them).
      const { rows } = await assertIndexMatchesSource(testDb.db, location);
      assert.ok(rows > appliedAtKill, 'the restarted worker applied what the first one had not');
    } finally {
      await writer.stop();
      // A failed assertion must not leave a worker behind (the first one may be blocked at the gate).
      for (const worker of [first, second]) {
        if (worker && worker.child.exitCode === null && worker.child.signalCode === null) {
          worker.child.kill(worker === first ? 'SIGKILL' : 'SIGTERM');
          await worker.exited;
        }
      }
      await gate.remove();
    }
    const failed = await testDb.db.query(`SELECT 1 FROM vectorsync.outbox WHERE status = 'failed'`);
    assert.equal(failed.rowCount, 0);
  });
});
