import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { enqueueChange } from '../src/outbox/app-enqueue.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { SearchService } from '../src/search/search-service.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import {
  assertIndexMatchesSource,
  createProductsTable,
  indexRows,
  insertProducts,
  openProductsRuntime,
  outboxDrained,
  products,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

describe('outbox sync: direct SQL writes reach the pgvector index', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let worker: OutboxWorker;
  let location: string;

  before(async () => {
    testDb = await createTestDatabase('outbox_sync');
    await createProductsTable(testDb.db);
    // Rows that exist before setup are backfilled from the source.
    await insertProducts(testDb.db, 'acme', products(30, 1));
    runtime = await openProductsRuntime(testDb);
    location = runtime.activeTarget('products').record.location;
    worker = new OutboxWorker({ runtime });
    await worker.start();
  });

  after(async () => {
    await worker.stop();
    await runtime.close();
    await testDb.drop();
  });

  it('backfills rows that existed before setup', async () => {
    await waitFor(() => outboxDrained(testDb.db), { message: 'backfill to drain' });
    const rows = await indexRows(testDb.db, location);
    assert.equal(rows.size, 30);
    await assertIndexMatchesSource(testDb.db, location);
  });

  it('indexes inserts, updates and deletes made with plain SQL', async () => {
    const batch = products(20, 2);
    await insertProducts(testDb.db, 'globex', batch);
    await testDb.db.query(
      `UPDATE products SET name = 'Velvet evening gown', description = 'A velvet gown for gala nights' WHERE article_id = $1`,
      [batch[0]!.article_id],
    );
    await testDb.db.query('DELETE FROM products WHERE article_id = $1', [batch[1]!.article_id]);
    await waitFor(() => outboxDrained(testDb.db), { message: 'changes to drain' });
    const rows = await indexRows(testDb.db, location);
    assert.equal(rows.size, 49);
    assert.ok(!rows.has(batch[1]!.article_id), 'deleted row is gone from the index');
    await assertIndexMatchesSource(testDb.db, location);

    const search = new SearchService(runtime);
    const result = await search.search({
      collection: 'products',
      tenant: 'globex',
      query: 'velvet gown',
      k: 3,
    });
    assert.equal(result.hits[0]?.id, batch[0]!.article_id);
  });

  it('scopes search to the tenant', async () => {
    const search = new SearchService(runtime);
    const acme = await search.search({
      collection: 'products',
      tenant: 'acme',
      query: 'velvet gown',
      k: 100,
    });
    const globexIds = new Set(products(20, 2).map((item) => item.article_id));
    assert.ok(acme.hits.length > 0);
    assert.ok(
      acme.hits.every((hit) => !globexIds.has(hit.id)),
      'no other-tenant hit',
    );
    const nobody = await search.search({
      collection: 'products',
      tenant: 'initech',
      query: 'velvet gown',
      k: 10,
    });
    assert.equal(nobody.hits.length, 0);
  });

  it('moves a row between tenants without leaving it visible to the old one', async () => {
    const [item] = products(1, 3);
    await insertProducts(testDb.db, 'acme', [item!]);
    await testDb.db.query(`UPDATE products SET tenant_id = 'globex' WHERE article_id = $1`, [
      item!.article_id,
    ]);
    await waitFor(() => outboxDrained(testDb.db), { message: 'move to drain' });
    const rows = await indexRows(testDb.db, location);
    assert.equal(rows.get(item!.article_id)?.tenant, 'globex');
    await assertIndexMatchesSource(testDb.db, location);
  });

  it('captures changes enqueued by the application inside its own transaction, and only if it commits', async () => {
    const [committed, rolledBack] = products(2, 4);
    await testDb.db.transaction(async (tx) => {
      await insertProducts(tx, 'acme', [committed!]);
      // The app may also enqueue explicitly (here on top of the trigger): same outbox, same transaction.
      await enqueueChange(tx, { collection: 'products', tenant: 'acme', id: committed!.article_id });
    });
    await assert.rejects(
      testDb.db.transaction(async (tx) => {
        await insertProducts(tx, 'acme', [rolledBack!]);
        await enqueueChange(tx, { collection: 'products', tenant: 'acme', id: rolledBack!.article_id });
        throw new Error('application aborts');
      }),
      /application aborts/,
    );
    const events = await testDb.db.query<{ source_id: string }>(
      'SELECT source_id FROM vectorsync.outbox WHERE source_id = ANY($1)',
      [[committed!.article_id, rolledBack!.article_id]],
    );
    assert.ok(
      events.rows.every((row) => row.source_id === committed!.article_id),
      'no event for the rolled-back write',
    );
    await waitFor(() => outboxDrained(testDb.db));
    assert.ok((await indexRows(testDb.db, location)).has(committed!.article_id));
  });

  it('rejects enqueueing for an unknown collection, naming it', async () => {
    await assert.rejects(
      enqueueChange(testDb.db, { collection: 'produkts', tenant: 'acme', id: '1' }),
      /unknown collection "produkts"/,
    );
  });

  it('empties the index when the source is truncated', async () => {
    await testDb.db.query('TRUNCATE products CASCADE');
    await waitFor(() => outboxDrained(testDb.db), { message: 'truncate to drain' });
    assert.equal((await indexRows(testDb.db, location)).size, 0);
    await insertProducts(testDb.db, 'acme', products(5, 9));
    await waitFor(() => outboxDrained(testDb.db));
    await assertIndexMatchesSource(testDb.db, location);
  });
});
