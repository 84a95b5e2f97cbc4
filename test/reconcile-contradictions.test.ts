import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ConfigInput } from '../src/config/config-schema.js';
import { reconcileCollection } from '../src/reconcile/reconcile-collection.js';
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
 * Issue 11, defect 2: a tombstone at a row's own version (what a CDC apply from a state older
 * than the change left behind) refuses every ordinary upsert of a row that exists, so
 * `reconcile --fix` reported "planned 2, repaired 1, skipped 1" and the row stayed missing.
 * Postgres is the truth: such contradictions are found, reported, and overwritten.
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
  describe(`reconciliation overwrites what contradicts the source (${placement.name})`, () => {
    let testDb: TestDatabase;
    let storeDb: TestDatabase;
    let dataDir: string;
    let runtime: VectorsyncRuntime;

    before(async () => {
      testDb = await createTestDatabase('reconcile_contradictions');
      storeDb = await createTestDatabase('reconcile_contra_store');
      dataDir = await mkdtemp(join(tmpdir(), 'vectorsync-contradictions-'));
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

    async function drain(): Promise<void> {
      const worker = new OutboxWorker({ runtime });
      await worker.start();
      try {
        await waitFor(() => outboxDrained(testDb.db), { message: 'the outbox to drain' });
      } finally {
        await worker.stop();
      }
    }

    async function records(): Promise<Map<string, number>> {
      const target = runtime.activeTarget('products');
      const found = new Map<string, number>();
      for await (const page of scanBuckets(target.store, target.spec, 0, ID_BUCKETS - 1, { pageSize: 500 }))
        for (const record of page) found.set(record.id, record.version);
      return found;
    }

    async function sourceVersion(id: string): Promise<number> {
      const result = await testDb.db.query<{ version: string }>(
        'SELECT version::text AS version FROM products WHERE article_id = $1',
        [id],
      );
      return Number(result.rows[0]!.version);
    }

    it('reports a blocking tombstone and a record newer than its row, and --fix repairs both', async () => {
      const items = products(6, 511).map((item, i) => ({ ...item, article_id: `contra-${i}` }));
      await insertProducts(testDb.db, 'acme', items);
      await drain();
      const target = runtime.activeTarget('products');
      const blocked = 'contra-1';
      const ahead = 'contra-2';
      // A tombstone at the row's own version, with no record: the state defect 1 left behind.
      await target.store.delete(target.spec, [
        { tenant: 'acme', id: blocked, version: await sourceVersion(blocked) },
      ]);
      // A record whose version is ahead of its row (a restore of the source, a bad version column).
      const version = await sourceVersion(ahead);
      await target.store.upsert(
        target.spec,
        [
          {
            collection: 'products',
            tenant: 'acme',
            id: ahead,
            version: version + 1000,
            contentHash: 'not-the-source',
            text: 'x',
            keywords: 'x',
            terms: { x: 1 },
            termCount: 1,
            payload: {},
            vector: new Float32Array(target.spec.dimensions).fill(0.1),
          },
        ],
        { overwrite: true },
      );
      // Ordinary sync cannot fix either: an update of an unrelated column keeps both versions.
      const report = await reconcileCollection(runtime, { collection: 'products', mode: 'report' });
      assert.equal(report.counts.missing, 1);
      assert.equal(report.counts.blockedByTombstone, 1);
      assert.deepEqual(
        report.samples.missing.map((sample) => [sample.id, sample.reason]),
        [[blocked, 'tombstone']],
      );
      assert.equal(report.counts.stale, 1);
      assert.equal(report.counts.newerThanSource, 1);

      const fix = await reconcileCollection(runtime, { collection: 'products', mode: 'fix' });
      assert.equal(fix.repair?.planned, 2);
      assert.equal(fix.repair?.repaired, 2, JSON.stringify(fix.repair));
      assert.equal(fix.repair?.skipped, 0);
      assert.equal(fix.repair?.overwritten, 2);
      const indexed = await records();
      assert.equal(indexed.get(blocked), await sourceVersion(blocked));
      assert.equal(indexed.get(ahead), await sourceVersion(ahead));
      assert.deepEqual(
        await target.store.tombstoneVersions?.(target.spec, [blocked]),
        new Map(),
        'the contradicting tombstone is gone',
      );
      const verify = await reconcileCollection(runtime, { collection: 'products', mode: 'report' });
      assert.equal(verify.inSync, true, JSON.stringify(verify.counts));

      // Ordinary sync works on both rows again, deletes included.
      await testDb.db.query(`UPDATE products SET name = name || ' (new)' WHERE article_id = ANY($1)`, [
        [blocked, ahead],
      ]);
      await testDb.db.query('DELETE FROM products WHERE article_id = $1', [ahead]);
      await drain();
      const after = await records();
      assert.equal(after.get(blocked), await sourceVersion(blocked));
      assert.ok(!after.has(ahead));
    });
  });
}
