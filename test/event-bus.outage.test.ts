import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NatsEventBus } from '../src/bus/nats/nats-event-bus.js';
import type { ResolvedConfig } from '../src/config/resolve-config.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { readSyncStatus } from '../src/status/sync-status.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import { RawJetStream, testBusConfig } from './helpers/bus-fixture.js';
import { startContinuousWriter } from './helpers/continuous-writer.js';
import { NatsServer } from './helpers/nats-server.js';
import {
  assertIndexMatchesSource,
  createProductsTable,
  indexMatchesSource,
  insertProducts,
  openProductsRuntime,
  outboxDrained,
  products,
  productsConfigWith,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

describe('the event bus down for a while (a dedicated nats-server stopped and restarted)', () => {
  let testDb: TestDatabase;
  let nats: NatsServer;
  let config: ResolvedConfig;
  let runtime: VectorsyncRuntime;
  let workers: SyncWorkers;
  let location: string;

  before(async () => {
    testDb = await createTestDatabase('bus_outage');
    nats = await NatsServer.start();
    await createProductsTable(testDb.db);
    await insertProducts(testDb.db, 'acme', products(40, 1));
    config = productsConfigWith(testDb, { mode: 'outbox', bus: testBusConfig(testDb, { url: nats.url() }) });
    runtime = await openProductsRuntime(testDb, { config });
    location = runtime.activeTarget('products').record.location;
    workers = new SyncWorkers(runtime, runtime.logger);
    await workers.start();
  });

  after(async () => {
    await workers.stop();
    await runtime.close();
    await testDb.drop();
    await nats.destroy();
  });

  it('closing the bus leaves no connection behind, even when its first uses raced to connect', async () => {
    const vectorsyncClients = async () =>
      (await nats.clientNames()).filter((name) => name === 'vectorsync').length;
    // The workers' own bus connects in the background after start(); once the backfill has gone
    // through the bus it is open, so the count below is stable (counted too early, the workers'
    // connection arriving later looked like one the closed bus left behind).
    await waitFor(() => indexMatchesSource(testDb.db, location), {
      message: 'the backfill to be applied through the bus',
    });
    const openBefore = await vectorsyncClients();
    assert.ok(openBefore > 0, "the workers' bus is connected");
    // The outbox workers publish and the bus consumer subscribes at the same moment on start-up.
    const bus = new NatsEventBus(
      {
        ...config.bus!,
        stream: `${config.bus!.stream}_race`,
        subjectPrefix: `${config.bus!.subjectPrefix}_race`,
      },
      runtime.logger,
    );
    const subscription = await Promise.all([
      bus.publish([
        {
          collection: 'products',
          tenant: 'acme',
          id: 'x',
          op: 'upsert',
          version: 1,
          capturedAt: new Date().toISOString(),
          origin: 'test',
        },
      ]),
      bus.consume({ consumer: 'race', collections: ['products'], batchSize: 10 }, async (messages) => {
        for (const message of messages) await message.ack();
      }),
      bus.ensureStream(),
    ]).then(([, subscription]) => subscription);
    await subscription.stop();
    await bus.close();
    await waitFor(async () => (await vectorsyncClients()) === openBefore, {
      message: async () =>
        `the closed bus to hold no connection (${openBefore} before it, ${await vectorsyncClients()} now)`,
    });
  });

  it('keeps the changes in the outbox while NATS is away, reports BUS_UNAVAILABLE, and drains when it is back', async () => {
    await waitFor(() => indexMatchesSource(testDb.db, location), { message: 'the backfill to be applied' });
    const writer = startContinuousWriter(testDb.db, { seed: 11, pauseMs: 5 });
    try {
      await waitFor(() => writer.stats.inserts > 10);
      await nats.stopServer();
      const insertsAtStop = writer.stats.inserts;

      // Writes to Postgres go on; the outbox holds them and says why they are not moving.
      const status = await waitFor(
        async () => {
          const products = (await readSyncStatus(runtime)).collections.find(
            (c) => c.collection === 'products',
          );
          return products && products.pending > 0 && products.lastError?.code === 'BUS_UNAVAILABLE'
            ? products
            : undefined;
        },
        { timeoutMs: 30_000, message: 'sync status to report the bus as unavailable' },
      );
      assert.match(status.lastError!.message, /event bus/);
      assert.equal(status.failed, 0, 'an unavailable bus never fails events');
      await waitFor(() => writer.stats.inserts > insertsAtStop + 30, {
        message: 'the application to keep writing while the bus is down',
      });
      const stuck = await testDb.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM vectorsync.outbox WHERE status <> 'done'`,
      );
      assert.ok(stuck.rows[0]!.n > 0, 'changes wait in the outbox');
      assert.equal(await indexMatchesSource(testDb.db, location), false, 'the index cannot be current');

      await nats.startServer();
      await waitFor(() => writer.stats.inserts > insertsAtStop + 60);
    } finally {
      await writer.stop();
    }
    assert.equal(writer.stats.errors, 0, 'Postgres writes never failed');
    await waitFor(() => indexMatchesSource(testDb.db, location), {
      timeoutMs: 60_000,
      message: async () =>
        `the backlog to drain after NATS came back (${await assertIndexMatchesSource(testDb.db, location).catch((e) => e.message)})`,
    });
    await waitFor(() => outboxDrained(testDb.db), { message: 'every outbox event to be published' });
    const after = (await readSyncStatus(runtime)).collections.find((c) => c.collection === 'products')!;
    assert.equal(after.pending + after.processing + after.failed, 0);

    // Every captured change went through the stream (retried publishes are de-duplicated).
    const raw = await RawJetStream.connect(nats.url(), config.bus!.stream);
    try {
      const events = await raw.events(`${config.bus!.subjectPrefix}.products`);
      const outbox = await testDb.db.query<{ n: number }>('SELECT count(*)::int AS n FROM vectorsync.outbox');
      assert.equal(events.length, outbox.rows[0]!.n, 'one stream message per outbox event, no duplicates');
    } finally {
      await raw.close();
    }
  });
});
