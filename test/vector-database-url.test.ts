import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { resolveConfig } from '../src/config/resolve-config.js';
import { PgDatabase } from '../src/db/pg-database.js';
import { demoConfig } from '../src/demo/demo-schema.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { SearchService } from '../src/search/search-service.js';
import { readSyncStatus } from '../src/status/sync-status.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import { PostgresCluster } from './helpers/postgres-cluster.js';
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

describe('VECTOR_DATABASE_URL: pgvector in a separate Postgres that goes down during outbox sync', () => {
  let testDb: TestDatabase;
  let vectorCluster: PostgresCluster;
  let runtime: VectorsyncRuntime;
  let worker: OutboxWorker;

  before(async () => {
    testDb = await createTestDatabase('vector_database_url');
    vectorCluster = await PostgresCluster.start();
    await createProductsTable(testDb.db);
    const config = await resolveConfig({
      config: { ...demoConfig({ dimensions: 32 }), sync: { ...fastSync, maxAttempts: 2, backoffMaxMs: 300 } },
      env: { DATABASE_URL: testDb.url, VECTOR_DATABASE_URL: vectorCluster.url() },
    });
    assert.deepEqual(
      Object.values(config.stores).map((store) => store.provider === 'pgvector' && store.databaseUrl),
      [vectorCluster.url()],
      'VECTOR_DATABASE_URL points every pgvector store at the other Postgres',
    );
    runtime = await openProductsRuntime(testDb, { config });
    worker = new OutboxWorker({ runtime });
    await worker.start();
  });
  after(async () => {
    await worker.stop();
    await runtime.close();
    await vectorCluster.destroy();
    await testDb.drop();
  });

  it('keeps the vectors out of the source database', async () => {
    const location = runtime.activeTarget('products').record.location;
    const inSource = await testDb.db.query('SELECT 1 FROM pg_class WHERE relname = $1', [location]);
    assert.equal(inSource.rowCount, 0);
    assert.equal(runtime.activeTarget('products').store.capabilities.sourceForeignKey, false);
  });

  it('writes to the source succeed while it is down, events queue without failing, and drain on recovery', async () => {
    const location = runtime.activeTarget('products').record.location;
    await insertProducts(testDb.db, 'acme', products(15, 71));
    await waitFor(() => outboxDrained(testDb.db), { message: 'the first rows to sync' });
    const search = new SearchService(runtime);
    const query = {
      collection: 'products',
      tenant: 'acme',
      query: 'jacket',
      mode: 'semantic' as const,
      k: 5,
    };
    assert.ok((await search.search(query)).hits.length > 0);

    await vectorCluster.stopServer();
    // The source does not depend on the vector store: inserts, updates and deletes all commit.
    await insertProducts(testDb.db, 'acme', products(25, 72));
    await testDb.db.query(
      `UPDATE products SET price = price + 1 WHERE article_id IN (SELECT article_id FROM products LIMIT 4)`,
    );
    await testDb.db.query(
      `DELETE FROM products WHERE article_id IN (SELECT article_id FROM products ORDER BY article_id LIMIT 2)`,
    );
    const waiting = await waitFor(
      async () => {
        const status = (await readSyncStatus(runtime)).collections[0]!;
        return status.lastError?.code === 'STORE_UNAVAILABLE' && status.pending >= 25 ? status : undefined;
      },
      { message: 'events to queue with STORE_UNAVAILABLE' },
    );
    assert.equal(waiting.failed, 0, 'an outage pauses the collection instead of burning attempts');
    await assert.rejects(search.search(query), (error: { code?: string; transient?: boolean }) => {
      assert.equal(error.code, 'STORE_UNAVAILABLE');
      assert.equal(error.transient, true);
      return true;
    });
    const attempts = await testDb.db.query<{ max: number }>(
      `SELECT max(attempts)::int AS max FROM vectorsync.outbox WHERE status = 'pending'`,
    );
    assert.ok(attempts.rows[0]!.max <= 2, 'pending events keep their attempts');

    await vectorCluster.startServer();
    await waitFor(() => outboxDrained(testDb.db), {
      timeoutMs: 30_000,
      message: 'the queue to drain after recovery',
    });
    assert.equal((await readSyncStatus(runtime)).collections[0]!.failed, 0);
    const vectorDb = PgDatabase.fromUrl(vectorCluster.url(), { max: 1 });
    try {
      const stored = await vectorDb.query<{ id: string; version: string }>(
        `SELECT id, version::text AS version FROM vectorsync."${location}"`,
      );
      const source = await testDb.db.query<{ article_id: string; version: string }>(
        'SELECT article_id, version::text AS version FROM products',
      );
      assert.equal(stored.rows.length, source.rows.length);
      const versions = new Map(stored.rows.map((row) => [row.id, row.version]));
      for (const row of source.rows)
        assert.equal(versions.get(row.article_id), row.version, `row ${row.article_id}`);
    } finally {
      await vectorDb.close();
    }
    assert.ok((await search.search(query)).hits.length > 0, 'search answers again');
  });
});
