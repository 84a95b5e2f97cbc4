import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { demoConfig } from '../src/demo/demo-schema.js';
import { silentLogger } from '../src/logger.js';
import { enqueueChange } from '../src/outbox/app-enqueue.js';
import { recordFailedEvents } from '../src/outbox/outbox-records.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { createApiKey } from '../src/server/api-keys.js';
import { createServer } from '../src/server/create-server.js';
import { ServiceMetrics } from '../src/server/metrics.js';
import { type CollectionSyncStatus, readSyncStatus } from '../src/status/sync-status.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import { runCli } from './helpers/cli-process.js';
import {
  createProductsTable,
  fastSync,
  insertProducts,
  openProductsRuntime,
  outboxDrained,
  products,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

/** How long the backfill waited for a worker, made explicit by ageing its events (no sleeping). */
const BACKFILL_WAITED_MS = 600_000;

describe('sync status: the lag of live changes apart from backfill and repair work', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let worker: OutboxWorker;
  let app: FastifyInstance;
  let adminKey: string;
  let queued: CollectionSyncStatus;

  before(async () => {
    testDb = await createTestDatabase('lag_by_work');
    await createProductsTable(testDb.db);
    await insertProducts(testDb.db, 'acme', products(200, 5));
    // setup enqueues a backfill of the 200 existing rows; no worker runs yet.
    runtime = await openProductsRuntime(testDb);
    await testDb.db.query(
      `UPDATE vectorsync.outbox SET created_at = created_at - make_interval(secs => $1 / 1000.0) WHERE origin = 'backfill'`,
      [BACKFILL_WAITED_MS],
    );
    queued = (await readSyncStatus(runtime)).collections[0]!;
    worker = new OutboxWorker({ runtime, sync: fastSync });
    const metrics = new ServiceMetrics(runtime);
    metrics.attachWorker(worker);
    await worker.start();
    await waitFor(() => outboxDrained(testDb.db), { message: 'the backfill to be applied' });
    // Live changes: captured by the triggers, and enqueued by the application.
    const live = products(5, 77);
    await insertProducts(testDb.db, 'acme', live);
    await testDb.db.transaction((tx) =>
      enqueueChange(tx, { collection: 'products', tenant: 'acme', id: live[0]!.article_id }),
    );
    // A repair: a change the CDC consumer could not apply, handed to the outbox.
    await recordFailedEvents(
      testDb.db,
      [
        {
          event: {
            eventId: '0',
            collection: 'products',
            tenant: 'acme',
            sourceId: live[1]!.article_id,
            op: 'upsert',
            sourceVersion: null,
          },
          error: 'store unavailable',
          code: 'STORE_UNAVAILABLE',
        },
      ],
      'cdc',
      { status: 'pending' },
    );
    await waitFor(() => outboxDrained(testDb.db), {
      message: 'the live changes and the repair to be applied',
    });
    app = createServer({ runtime, logger: silentLogger, metrics });
    adminKey = (await createApiKey(testDb.db, { name: 'ops', admin: true })).key;
  });

  after(async () => {
    await app.close();
    await worker.stop();
    await runtime.close();
    await testDb.drop();
  });

  it('counts queued work by kind, with the age of each kind', () => {
    assert.equal(queued.pending, 200);
    assert.equal(queued.work.backfill.pending, 200);
    assert.ok(queued.work.backfill.oldestPendingSeconds >= BACKFILL_WAITED_MS / 1000);
    assert.deepEqual(
      [queued.work.live.pending, queued.work.live.oldestPendingSeconds, queued.work.repair.pending],
      [0, 0, 0],
    );
  });

  it('reports lag as that of live changes, and backfill and repair lag apart (HTTP)', async () => {
    const response = await app.inject({
      method: 'GET',
      url: '/v1/sync/status',
      headers: { authorization: `Bearer ${adminKey}` },
    });
    assert.equal(response.statusCode, 200);
    const status = response.json().collections[0] as CollectionSyncStatus;
    // 5 inserts through the triggers and 1 vectorsync.enqueue(): the live changes, nothing else.
    assert.equal(status.lag.samples, 6);
    assert.deepEqual(status.lag, status.work.live.lag);
    assert.ok(status.lag.maxMs! < BACKFILL_WAITED_MS, 'no backfill event in the live lag');
    assert.equal(status.work.backfill.lag.samples, 200);
    assert.ok(status.work.backfill.lag.p50Ms! >= BACKFILL_WAITED_MS);
    assert.equal(status.work.repair.lag.samples, 1);

    const metrics = await app.inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: `Bearer ${adminKey}` },
    });
    assert.match(metrics.body, /vectorsync_sync_lag_seconds_count\{collection="products",work="live"\} 6\b/);
    assert.match(
      metrics.body,
      /vectorsync_sync_lag_seconds_count\{collection="products",work="backfill"\} 200\b/,
    );
    assert.match(
      metrics.body,
      /vectorsync_sync_lag_seconds_count\{collection="products",work="repair"\} 1\b/,
    );
  });

  it('shows live lag in `vectorsync status`, backfill and repair beside it', async () => {
    const config = { ...demoConfig({ dimensions: 64 }), databaseUrl: testDb.url };
    const json = await runCli(config, ['status', '--json']);
    assert.equal(json.code, 0, json.output);
    const status = JSON.parse(json.stdout).collections[0] as CollectionSyncStatus;
    assert.equal(status.lag.samples, 6);
    assert.equal(status.work.backfill.lag.samples, 200);

    const table = await runCli(config, ['status']);
    assert.equal(table.code, 0, table.output);
    const [header, , row] = table.stdout.split('\n');
    const columns = header!.split(/\s{2,}/);
    const cells = row!.split(/\s{2,}/);
    const cell = (name: string) => cells[columns.indexOf(name)];
    assert.match(cell('live lag p50')!, /^\d+ms$/);
    assert.ok(Number(cell('live lag p50')!.slice(0, -2)) < BACKFILL_WAITED_MS);
    // The backfill is done (0 open); its lag is shown beside, in seconds: at least the 600 s it waited.
    const backfill = /^0 open, lag p50 (\d+\.\d)s$/.exec(cell('backfill')!);
    assert.ok(backfill, `backfill cell: ${cell('backfill')}`);
    assert.ok(Number(backfill[1]) >= BACKFILL_WAITED_MS / 1000);
    assert.match(cell('repair')!, /^0 open, lag p50 /);
  });
});
