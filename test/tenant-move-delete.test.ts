import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ConfigInput } from '../src/config/config-schema.js';
import { scanBuckets } from '../src/reconcile/store-reader.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { ID_BUCKETS } from '../src/stores/id-bucket.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import {
  createProductsTable,
  insertProducts,
  openProductsRuntime,
  outboxDrained,
  products,
  productsConfig,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * Issue 11, defect 3: with the vectors outside the source database (no cascading foreign key
 * to hide it), a delete that follows a tenant move used to remove the record only under the
 * tenant of the latest event, leaving it indexed and searchable under the old tenant.
 */
const placements: Array<{
  name: string;
  stores: (dir: string, storeDb: TestDatabase) => ConfigInput['stores'];
}> = [
  {
    name: 'pgvector in a separate database',
    stores: (_dir, storeDb) => ({ main: { provider: 'pgvector', databaseUrl: storeDb.url } }),
  },
  { name: 'LanceDB', stores: (dir) => ({ main: { provider: 'lancedb', dataDir: dir } }) },
];

for (const placement of placements) {
  describe(`a deleted row leaves no record under any tenant (${placement.name})`, () => {
    let testDb: TestDatabase;
    let storeDb: TestDatabase;
    let dataDir: string;
    let runtime: VectorsyncRuntime;

    before(async () => {
      testDb = await createTestDatabase('tenant_move_delete');
      storeDb = await createTestDatabase('tenant_move_store');
      dataDir = await mkdtemp(join(tmpdir(), 'vectorsync-tenant-move-'));
      await createProductsTable(testDb.db);
      runtime = await openProductsRuntime(testDb, {
        config: productsConfig(testDb, { stores: placement.stores(dataDir, storeDb) }),
      });
    });
    after(async () => {
      await runtime.close();
      await storeDb.drop();
      await testDb.drop();
      await rm(dataDir, { recursive: true, force: true });
    });

    /** Every live record in the index, whatever its tenant (the store's own scan). */
    async function records(): Promise<Array<{ id: string; tenant: string; version: number }>> {
      const target = runtime.activeTarget('products');
      const found: Array<{ id: string; tenant: string; version: number }> = [];
      for await (const page of scanBuckets(target.store, target.spec, 0, ID_BUCKETS - 1, { pageSize: 500 }))
        for (const record of page)
          found.push({ id: record.id, tenant: record.tenant, version: record.version });
      return found.sort((a, b) => (a.id < b.id ? -1 : 1));
    }

    async function drain(): Promise<void> {
      const worker = new OutboxWorker({ runtime });
      await worker.start();
      try {
        await waitFor(() => outboxDrained(testDb.db), { message: 'the outbox to drain' });
      } finally {
        await worker.stop();
      }
    }

    it('UPDATE tenant, then DELETE, applied by one worker afterwards', async () => {
      const [a, b] = products(2, 301);
      await insertProducts(testDb.db, 't1', [
        { ...a!, article_id: 'move-1' },
        { ...b!, article_id: 'keep-1' },
      ]);
      await drain();
      assert.deepEqual(
        (await records()).map((record) => `${record.id}@${record.tenant}`),
        ['keep-1@t1', 'move-1@t1'],
      );

      // Workers down while both statements commit: one batch sees both events.
      await testDb.db.query(`UPDATE products SET tenant_id = 't2' WHERE article_id = 'move-1'`);
      await testDb.db.query(`DELETE FROM products WHERE article_id = 'move-1'`);
      await drain();
      assert.deepEqual(
        (await records()).map((record) => `${record.id}@${record.tenant}`),
        ['keep-1@t1'],
        'the moved and deleted row is gone under every tenant',
      );
    });

    it('DELETE, re-INSERT under another tenant, DELETE', async () => {
      const [a] = products(1, 302);
      await insertProducts(testDb.db, 't1', [{ ...a!, article_id: 'again-1' }]);
      await drain();
      assert.ok((await records()).some((record) => record.id === 'again-1' && record.tenant === 't1'));

      await testDb.db.query(`DELETE FROM products WHERE article_id = 'again-1'`);
      await insertProducts(testDb.db, 't2', [{ ...a!, article_id: 'again-1' }]);
      await testDb.db.query(`DELETE FROM products WHERE article_id = 'again-1'`);
      await drain();
      assert.deepEqual(
        (await records()).filter((record) => record.id === 'again-1'),
        [],
        'no record of the id under t1 or t2',
      );

      // The id can come back later, under either tenant, and is indexed again.
      await insertProducts(testDb.db, 't1', [{ ...a!, article_id: 'again-1' }]);
      await drain();
      assert.deepEqual(
        (await records()).filter((record) => record.id === 'again-1').map((record) => record.tenant),
        ['t1'],
      );
    });
  });
}
