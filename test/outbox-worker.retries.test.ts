import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../src/config/resolve-config.js';
import { PgDatabase } from '../src/db/pg-database.js';
import { demoConfig } from '../src/demo/demo-schema.js';
import { retryFailedEvents } from '../src/outbox/outbox-admin.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { readSyncStatus } from '../src/status/sync-status.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import { PostgresCluster } from './helpers/postgres-cluster.js';
import {
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

interface EventRow {
  status: string;
  attempts: number;
  last_error: string | null;
  last_error_code: string | null;
}

async function eventFor(testDb: TestDatabase, id: string): Promise<EventRow> {
  const result = await testDb.db.query<EventRow>(
    'SELECT status, attempts, last_error, last_error_code FROM vectorsync.outbox WHERE source_id = $1 ORDER BY id DESC LIMIT 1',
    [id],
  );
  return result.rows[0]!;
}

describe('a failing store', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let worker: OutboxWorker;
  let location: string;

  before(async () => {
    testDb = await createTestDatabase('worker_retries');
    await createProductsTable(testDb.db);
    runtime = await openProductsRuntime(testDb);
    location = runtime.activeTarget('products').record.location;
    // A real Postgres error from the index table: the first N writes fail (a sequence, so
    // the count survives the failed transactions' rollbacks).
    await testDb.db.query(`
      CREATE SEQUENCE public.index_write_attempts;
      CREATE TABLE public.index_fail_budget (n int NOT NULL);
      INSERT INTO public.index_fail_budget VALUES (0);
      CREATE FUNCTION public.failing_index_write() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF nextval('public.index_write_attempts') <= (SELECT n FROM public.index_fail_budget) THEN
          RAISE EXCEPTION 'injected store failure';
        END IF;
        RETURN NULL;
      END $$;
      CREATE TRIGGER failing AFTER INSERT OR UPDATE ON vectorsync."${location}" FOR EACH STATEMENT EXECUTE FUNCTION public.failing_index_write();`);
    worker = new OutboxWorker({ runtime, sync: { ...fastSync, maxAttempts: 3, concurrency: 1 } });
    await worker.start();
  });
  after(async () => {
    await worker.stop();
    await runtime.close();
    await testDb.drop();
  });

  const failNextWrites = async (n: number) =>
    testDb.db.query(
      `SELECT setval('public.index_write_attempts', 1, false); UPDATE public.index_fail_budget SET n = ${n};`,
    );

  it('retries with backoff and succeeds when the store recovers within the attempts', async () => {
    await failNextWrites(2);
    const [item] = products(1, 21);
    await insertProducts(testDb.db, 'acme', [item!]);
    await waitFor(async () => (await eventFor(testDb, item!.article_id)).status === 'done', {
      message: 'the event to succeed on its third attempt',
    });
    const event = await eventFor(testDb, item!.article_id);
    assert.equal(event.attempts, 3);
    assert.ok((await indexRows(testDb.db, location)).has(item!.article_id));
  });

  it('marks the event failed with its error after the last attempt, shows it, and a retry brings it back', async () => {
    await failNextWrites(1000);
    const [item] = products(1, 22);
    await insertProducts(testDb.db, 'acme', [item!]);
    await waitFor(async () => (await eventFor(testDb, item!.article_id)).status === 'failed', {
      message: 'the event to fail',
    });
    const event = await eventFor(testDb, item!.article_id);
    assert.equal(event.attempts, 3);
    assert.equal(event.last_error_code, 'STORE_FAILED');
    assert.match(event.last_error!, /injected store failure/);

    const status = (await readSyncStatus(runtime)).collections[0]!;
    assert.equal(status.failed, 1);
    assert.equal(status.lastError?.code, 'STORE_FAILED');
    assert.ok(!(await indexRows(testDb.db, location)).has(item!.article_id));

    await failNextWrites(0);
    const { retried } = await retryFailedEvents(testDb.db, { collection: 'products' });
    assert.equal(retried.length, 1);
    await waitFor(async () => (await eventFor(testDb, item!.article_id)).status === 'done', {
      message: 'the retried event to apply',
    });
    assert.ok((await indexRows(testDb.db, location)).has(item!.article_id));
    assert.equal((await readSyncStatus(runtime)).collections[0]!.failed, 0);
  });
});

describe('a vector store in another Postgres that goes down', () => {
  let testDb: TestDatabase;
  let vectorCluster: PostgresCluster;
  let runtime: VectorsyncRuntime;
  let worker: OutboxWorker;

  before(async () => {
    testDb = await createTestDatabase('store_outage');
    vectorCluster = await PostgresCluster.start();
    await createProductsTable(testDb.db);
    const base = demoConfig({ dimensions: 64 });
    const config = parseConfig({
      ...base,
      databaseUrl: testDb.url,
      stores: { main: { provider: 'pgvector', databaseUrl: vectorCluster.url() } },
      sync: { ...fastSync, maxAttempts: 2, backoffMaxMs: 300 },
    });
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

  it('lets writes succeed while events wait without using up attempts, then drains on recovery', async () => {
    const location = runtime.activeTarget('products').record.location;
    await insertProducts(testDb.db, 'acme', products(20, 31));
    await waitFor(() => outboxDrained(testDb.db), { message: 'the first batch to sync' });

    await vectorCluster.stopServer();
    // Source writes do not depend on the vector store.
    await insertProducts(testDb.db, 'acme', products(30, 32));
    await testDb.db.query(
      `UPDATE products SET name = name || ' (updated)' WHERE article_id IN (SELECT article_id FROM products LIMIT 5)`,
    );
    const waiting = await waitFor(
      async () => {
        const status = (await readSyncStatus(runtime)).collections[0]!;
        return status.lastError?.code === 'STORE_UNAVAILABLE' && status.pending >= 35 ? status : undefined;
      },
      { message: 'events to wait with STORE_UNAVAILABLE' },
    );
    assert.equal(waiting.failed, 0, 'an outage does not burn attempts into failures');
    // More rounds of failed writes than maxAttempts (2) would allow attempts: still nothing
    // failed. (Counted, not slept: a loaded machine retries less often in the same time.)
    let rounds = 0;
    const countRound = () => rounds++;
    worker.on('paused', countRound);
    try {
      await waitFor(() => rounds >= 4, {
        timeoutMs: 30_000,
        message: () => `four more rounds against the unavailable store (${rounds} so far)`,
      });
    } finally {
      worker.off('paused', countRound);
    }
    assert.equal((await readSyncStatus(runtime)).collections[0]!.failed, 0);

    await vectorCluster.startServer();
    await waitFor(() => outboxDrained(testDb.db), {
      timeoutMs: 30_000,
      message: 'the backlog to drain after recovery',
    });
    const vectorDb = PgDatabase.fromUrl(vectorCluster.url(), { max: 1 });
    try {
      const stored = await vectorDb.query<{ id: string; version: string }>(
        `SELECT id, version::text AS version FROM vectorsync."${location}"`,
      );
      const source = await testDb.db.query<{ article_id: string; version: string }>(
        'SELECT article_id, version::text AS version FROM products',
      );
      assert.equal(stored.rows.length, 50);
      const storedVersions = new Map(stored.rows.map((row) => [row.id, row.version]));
      for (const row of source.rows)
        assert.equal(storedVersions.get(row.article_id), row.version, `row ${row.article_id}`);
    } finally {
      await vectorDb.close();
    }
  });
});
