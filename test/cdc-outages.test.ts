import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createCliLogger } from '../src/cli/cli-context.js';
import { migrate } from '../src/db/migrator.js';
import { PgDatabase } from '../src/db/pg-database.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { readSyncStatus } from '../src/status/sync-status.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import { startContinuousWriter } from './helpers/continuous-writer.js';
import { PostgresCluster } from './helpers/postgres-cluster.js';
import {
  assertIndexMatchesSourceAcross,
  createProductsTable,
  indexMatchesSource,
  insertProducts,
  products,
  productsConfigWith,
} from './helpers/products-fixture.js';
import type { TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * Real outages, on servers of their own: the source Postgres restarts while changes stream, and
 * the vector store (pgvector in another Postgres) goes away and comes back.
 */
describe('CDC through a source restart and a store outage', () => {
  let source: PostgresCluster;
  let store: PostgresCluster;
  let sourceDb: PgDatabase;
  let storeDb: PgDatabase;
  let runtime: VectorsyncRuntime;
  let workers: SyncWorkers;
  let location: string;

  before(async () => {
    [source, store] = await Promise.all([PostgresCluster.start(), PostgresCluster.start()]);
    for (const cluster of [source, store]) {
      const admin = new pg.Client({ connectionString: cluster.url() });
      await admin.connect();
      await admin.query('CREATE DATABASE vs');
      await admin.end();
    }
    sourceDb = PgDatabase.fromUrl(source.url('vs'), { max: 4 });
    storeDb = PgDatabase.fromUrl(store.url('vs'), { max: 2 });
    await sourceDb.query('CREATE EXTENSION vector');
    await migrate(sourceDb);
    await createProductsTable(sourceDb);
    await insertProducts(sourceDb, 'acme', products(50, 31));
    const pseudo = { name: 'vs', url: source.url('vs') } as TestDatabase;
    const config = productsConfigWith(pseudo, {
      mode: 'cdc',
      storeDatabaseUrl: store.url('vs'),
      sync: { backoffMaxMs: 300 },
    });
    runtime = await VectorsyncRuntime.open({
      config,
      ...(process.env.VECTORSYNC_TEST_LOG
        ? { logger: createCliLogger(process.env.VECTORSYNC_TEST_LOG) }
        : {}),
    });
    await setupCollections(runtime);
    location = runtime.activeTarget('products').record.location;
    workers = new SyncWorkers(runtime, runtime.logger);
    await workers.start();
    await waitFor(() => indexMatchesSource(sourceDb, location, storeDb), { timeoutMs: 30_000 });
  });

  after(async () => {
    await workers?.stop();
    await runtime?.close();
    await sourceDb?.close();
    await storeDb?.close();
    await Promise.all([source?.destroy(), store?.destroy()]);
  });

  it('resumes streaming after the source Postgres restarts mid-stream', async () => {
    const writer = startContinuousWriter(sourceDb, { seed: 9, pauseMs: 2, prefix: 'r' });
    await waitFor(() => writer.stats.inserts > 30);
    await source.restart();
    await waitFor(() => writer.stats.inserts > 80, { timeoutMs: 30_000 });
    const stats = await writer.stop();
    assert.ok(stats.errors > 0, 'the writer saw the restart');
    await waitFor(() => indexMatchesSource(sourceDb, location, storeDb), {
      timeoutMs: 60_000,
      message: async () =>
        `the index to catch up after the restart: ${await assertIndexMatchesSourceAcross(sourceDb, storeDb, location).catch((e) => e.message)}`,
    });
  });

  it('holds changes in the slot while the store is down, then drains them', async () => {
    await store.stopServer();
    const writer = startContinuousWriter(sourceDb, { seed: 10, pauseMs: 2, prefix: 's' });
    try {
      await waitFor(() => writer.stats.inserts > 50);
      const behind = await waitFor(async () => {
        const status = (await readSyncStatus(runtime)).cdc!;
        return status.lagBytes > 0 ? status : undefined;
      });
      assert.ok(behind.lagBytes > 0, 'nothing is confirmed while the store is away');
      const failed = await sourceDb.query(`SELECT 1 FROM vectorsync.outbox WHERE status = 'failed'`);
      assert.equal(failed.rowCount, 0, 'an outage is not a failure: nothing went to the failed list');
    } finally {
      await writer.stop();
    }
    await store.startServer();
    await waitFor(() => indexMatchesSource(sourceDb, location, storeDb), {
      timeoutMs: 60_000,
      message: async () =>
        `the index to drain after the store came back: ${await assertIndexMatchesSourceAcross(sourceDb, storeDb, location).catch((e) => e.message)}`,
    });
  });
});
