import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { silentLogger } from '../src/logger.js';
import { scanBuckets } from '../src/reconcile/store-reader.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { ID_BUCKETS } from '../src/stores/id-bucket.js';
import { bm25Names } from '../src/stores/pgvector/pgvector-bm25.js';
import { Applier } from '../src/sync/applier.js';
import type { ChangeEvent } from '../src/sync/change-event.js';
import {
  createProductsTable,
  insertProducts,
  openProductsRuntime,
  products,
  productsConfig,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * Issue 11 (chaos runs 14 and CI seed 11004, cdc / pgvector-separate): two appliers on one row.
 * A reads the row (present) and is slow to write it; meanwhile the row is deleted and B
 * applies the delete, which, captured by CDC, knows only the key: it removes nothing yet and
 * checks that the source has no row. Then A's write lands. With the vectors outside the source
 * database no foreign key refuses it, so the record used to stay for good (an orphan).
 *
 * A is held deterministically: its first write of a new term to the index's BM25 dictionary
 * waits on a table lock this test holds, after its source read and before its vector write.
 */
describe('a write that lands after its row was deleted leaves no record (pgvector, separate database)', () => {
  let testDb: TestDatabase;
  let storeDb: TestDatabase;
  let runtime: VectorsyncRuntime;

  before(async () => {
    testDb = await createTestDatabase('vanished_row');
    storeDb = await createTestDatabase('vanished_row_store');
    await createProductsTable(testDb.db);
    runtime = await openProductsRuntime(testDb, {
      config: productsConfig(testDb, {
        stores: { main: { provider: 'pgvector', databaseUrl: storeDb.url } },
      }),
    });
  });
  after(async () => {
    await runtime.close();
    await storeDb.drop();
    await testDb.drop();
  });

  async function recordsOf(id: string): Promise<Array<{ tenant: string; version: number }>> {
    const target = runtime.activeTarget('products');
    const found: Array<{ tenant: string; version: number }> = [];
    for await (const page of scanBuckets(target.store, target.spec, 0, ID_BUCKETS - 1, { pageSize: 500 }))
      for (const record of page)
        if (record.id === id) found.push({ tenant: record.tenant, version: record.version });
    return found;
  }

  function event(
    id: string,
    op: 'upsert' | 'delete',
    tenant: string | null,
    version: number | null,
  ): ChangeEvent {
    return {
      eventId: `${op}-${id}`,
      collection: 'products',
      tenant,
      sourceId: id,
      op,
      sourceVersion: version,
    };
  }

  it('the late write is found gone from the source and removed at its version', async () => {
    const [product] = products(1, 811);
    const id = 'vanish-1';
    // Words no earlier write used: A must add them to the term dictionary.
    await insertProducts(testDb.db, 't1', [
      { ...product!, article_id: id, name: 'zyxqvorth plimbattle', description: 'quorvendish snarfblat' },
    ]);
    const version = Number(
      (
        await testDb.db.query<{ version: string }>(
          `SELECT version::text FROM products WHERE article_id = $1`,
          [id],
        )
      ).rows[0]!.version,
    );

    const terms = bm25Names(runtime.activeTarget('products').spec.location).terms;
    const blocker = new pg.Client({ connectionString: storeDb.url });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query(`LOCK TABLE ${terms} IN EXCLUSIVE MODE`);
    let slowWrite: Promise<unknown> | undefined;
    try {
      slowWrite = new Applier(runtime, silentLogger).apply([event(id, 'upsert', 't1', version)]);
      await waitFor(
        async () =>
          (
            await storeDb.db.query(
              `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO%_terms%'`,
            )
          ).rows.length > 0,
        { message: "A's write to wait on the term dictionary" },
      );

      await testDb.db.query('DELETE FROM products WHERE article_id = $1', [id]);
      const deleted = await new Applier(runtime, silentLogger).apply([event(id, 'delete', null, null)]);
      assert.equal(deleted.outcomes.get(`delete-${id}`)?.status, 'applied');
    } finally {
      await blocker.query('COMMIT');
      await blocker.end();
    }
    const late = (await slowWrite) as Awaited<ReturnType<Applier['apply']>>;
    assert.notEqual(late.outcomes.get(`upsert-${id}`)?.status, 'failed');

    assert.deepEqual(await recordsOf(id), [], 'no record of the deleted row remains');
    // The id can come back, and is indexed again (the removal's tombstone is below its new version).
    await insertProducts(testDb.db, 't2', [{ ...product!, article_id: id }]);
    const back = await testDb.db.query<{ version: string }>(
      `SELECT version::text FROM products WHERE article_id = $1`,
      [id],
    );
    await new Applier(runtime, silentLogger).apply([
      event(id, 'upsert', 't2', Number(back.rows[0]!.version)),
    ]);
    assert.deepEqual(await recordsOf(id), [{ tenant: 't2', version: Number(back.rows[0]!.version) }]);
  });
});
