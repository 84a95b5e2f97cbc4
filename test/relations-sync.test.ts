import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { silentLogger } from '../src/logger.js';
import { reconcileCollection } from '../src/reconcile/reconcile-collection.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { SearchService } from '../src/search/search-service.js';
import { DocumentWriter } from '../src/sync/document-writer.js';
import { DualWriter } from '../src/sync/dual-writer.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import {
  catalogConfig,
  catalogDrift,
  createCatalogTables,
  indexedCatalog,
  seedCatalog,
} from './helpers/catalog-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * Documents built from five tables, in every sync mode: a change to any related row re-indexes
 * exactly the documents it is part of, and the index ends equal to what the source describes
 * (checked against documents assembled in TypeScript from plain reads of the tables).
 */
for (const mode of ['outbox', 'cdc', 'dual-write'] as const) {
  describe(`relations, ${mode} mode`, () => {
    let testDb: TestDatabase;
    let runtime: VectorsyncRuntime;
    let workers: SyncWorkers;
    const converged = () =>
      waitFor(async () => (await catalogDrift(runtime, testDb.db)) === undefined, {
        message: async () => `the index to equal the source: ${await catalogDrift(runtime, testDb.db)}`,
      });
    /** The index holds the product at its current source version. */
    const productApplied = async (id: number) => {
      const source = await testDb.db.query<{ version: string }>(
        `SELECT (version + vectorsync.document_revision('catalog', id::text))::text AS version FROM products WHERE id = $1`,
        [id],
      );
      return (await indexedCatalog(runtime)).get(String(id))?.version === Number(source.rows[0]!.version);
    };
    const versions = async () =>
      new Map([...(await indexedCatalog(runtime))].map(([id, record]) => [id, record.version]));

    before(async () => {
      testDb = await createTestDatabase(`relations_${mode.replace('-', '_')}`);
      await createCatalogTables(testDb.db);
      await seedCatalog(testDb.db, { brands: 7, products: 210 });
      runtime = await VectorsyncRuntime.open({
        config: catalogConfig(testDb, { mode }),
        db: testDb.connect({ applicationName: 'vectorsync-runtime' }),
        logger: silentLogger,
      });
      await setupCollections(runtime);
      workers = new SyncWorkers(runtime, silentLogger);
      await workers.start();
    });
    after(async () => {
      await workers?.stop();
      await runtime?.close();
      await testDb?.drop();
    });

    it('backfills documents built from the product, its brand, categories, variants and reviews', async () => {
      await converged();
      const search = new SearchService(runtime);
      const found = await search.search({
        collection: 'catalog',
        tenant: 'acme',
        query: 'Brand 3',
        mode: 'keyword',
        k: 1,
        filter: { brand: 'Brand 3' },
      });
      const hit = found.hits[0]!;
      assert.equal(hit.payload.brand, 'Brand 3', 'a one relation in the payload');
      assert.equal(hit.payload.variant_count, 3, 'a count in the payload');
      assert.ok(Array.isArray(hit.payload.colors) && hit.payload.colors.length >= 2, 'a distinct list');
      assert.equal(new Set(hit.payload.colors as string[]).size, (hit.payload.colors as string[]).length);
    });

    it('a renamed brand re-indexes exactly the products that use it', async () => {
      await converged();
      const before = await versions();
      const users = await testDb.db.query<{ id: string }>(
        'SELECT id::text AS id FROM products WHERE brand_id = 2',
      );
      const outboxBefore = await testDb.db.query<{ max: string | null }>(
        'SELECT max(id)::text AS max FROM vectorsync.outbox',
      );
      await testDb.db.query(`UPDATE brands SET name = 'Renamed Brand' WHERE id = 2`);
      await converged();
      const afterRename = await versions();
      const changed = [...afterRename]
        .filter(([id, version]) => before.get(id) !== version)
        .map(([id]) => id);
      assert.deepEqual(changed.sort(), users.rows.map((row) => row.id).sort());
      assert.ok(
        changed.length === 30,
        `7 brands over 210 products: 30 use brand 2, ${changed.length} changed`,
      );
      if (mode !== 'cdc') {
        const queued = await testDb.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM vectorsync.outbox WHERE id > $1 AND origin = 'trigger'`,
          [outboxBefore.rows[0]!.max ?? 0],
        );
        assert.equal(queued.rows[0]!.n, 30, 'one event per affected product, none for the others');
      }
      // A column no document reads: nothing is re-indexed.
      await testDb.db.query(`UPDATE brands SET note = 'internal' WHERE id = 2`);
      await testDb.db.query(`UPDATE variants SET stock = stock + 1 WHERE product_id < 50`);
      await testDb.db.query(`UPDATE brands SET name = 'Renamed Brand' WHERE id = 2`);
      const revisions = await testDb.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM vectorsync.document_revisions WHERE collection = 'catalog' AND revision > 1`,
      );
      assert.equal(revisions.rows[0]!.n, 0, 'no revision moved for columns outside the documents');
      await converged();
      assert.deepEqual(await versions(), afterRename);
    });

    it('child rows, two-hop parents and foreign key moves', async () => {
      await testDb.db.query(`UPDATE variants SET color = 'violet' WHERE id = 11`);
      await testDb.db.query(
        `INSERT INTO variants (id, product_id, color, size, position) VALUES (9001, 2, 'amber', 'XL', 0)`,
      );
      await testDb.db.query(`DELETE FROM variants WHERE product_id = 3`);
      await testDb.db.query(
        `INSERT INTO reviews (id, product_id, body, created_at) VALUES (9001, 4, 'newest review wins a place', 99)`,
      );
      // The second hop: every product under Clothing's subcategories changes.
      await testDb.db.query(`UPDATE categories SET name = 'Apparel' WHERE id = 100`);
      // A variant moving to another product changes both.
      await testDb.db.query(`UPDATE variants SET product_id = 6 WHERE id = 52`);
      await testDb.db.query(`DELETE FROM brands WHERE id = 5`);
      await converged();
      const empty = await new SearchService(runtime).search({
        collection: 'catalog',
        tenant: 'acme',
        query: 'Product',
        mode: 'keyword',
        k: 50,
        filter: { variant_count: 0 },
      });
      assert.deepEqual(
        empty.hits.map((hit) => hit.id),
        ['3'],
        'a product whose variants were all deleted counts none',
      );
    });

    it('root writes and related writes in one transaction converge', async () => {
      if (mode === 'dual-write') {
        const writer = new DocumentWriter(runtime.db);
        const dual = new DualWriter(runtime, silentLogger);
        const definition = runtime.collection('catalog').definition;
        const written = await writer.create(
          definition,
          'acme',
          { id: 5000, name: 'Written through the API', brand_id: 1, category_id: 3 },
          dual.capture,
        );
        await dual.afterWrite(written.change!, written.captured!, 'test');
        await testDb.db.query(
          `INSERT INTO variants (id, product_id, color, position) VALUES (50001, 5000, 'teal', 1)`,
        );
      } else {
        await testDb.db.transaction(async (tx) => {
          await tx.query(
            `INSERT INTO products (id, tenant_id, name, brand_id, category_id) VALUES (5000, 'acme', 'Fresh', 1, 3)`,
          );
          await tx.query(
            `INSERT INTO variants (id, product_id, color, position) VALUES (50001, 5000, 'teal', 1)`,
          );
          await tx.query(`UPDATE brands SET name = 'Brand One' WHERE id = 1`);
        });
        await testDb.db.query(`UPDATE products SET brand_id = 3 WHERE id BETWEEN 10 AND 20`);
        await testDb.db.query(`DELETE FROM products WHERE id BETWEEN 21 AND 25`);
      }
      await converged();
    });

    if (mode !== 'dual-write') {
      it('a brand renamed while a product is pointed at it: whichever commits second sees the other', async () => {
        await converged();
        const rename = new pg.Client({ connectionString: testDb.url });
        const point = new pg.Client({ connectionString: testDb.url });
        await Promise.all([rename.connect(), point.connect()]);
        try {
          await rename.query('BEGIN');
          await rename.query(`UPDATE brands SET name = 'Raced Brand' WHERE id = 6`);
          const pointPid = (await point.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!
            .pid;
          let pointed = false;
          const pointing = point
            .query(`UPDATE products SET brand_id = 6 WHERE id = 8 AND brand_id <> 6`)
            .then(() => {
              pointed = true;
            });
          // The product's write either waits for the rename (it pins the brand), or, were it
          // not to, commits first and is applied while the rename is still open.
          const waiting = async () =>
            (
              await testDb.db.query<{ waiting: boolean }>(
                `SELECT wait_event_type = 'Lock' AS waiting FROM pg_stat_activity WHERE pid = $1`,
                [pointPid],
              )
            ).rows[0]?.waiting === true;
          await waitFor(async () => pointed || (await waiting()), {
            message: 'the product write to wait or finish',
          });
          if (pointed) await waitFor(() => productApplied(8), { message: 'the product write to be applied' });
          await rename.query('COMMIT');
          await pointing;
        } finally {
          await Promise.all([rename.end(), point.end()]);
        }
        await converged();
      });
    }

    it('reconciliation compares the related data and repairs what capture never saw', async () => {
      await converged();
      // Behind capture's back: no trigger runs under the replica role.
      await testDb.db.transaction(async (tx) => {
        await tx.query(`SET LOCAL session_replication_role = replica`);
        await tx.query(`UPDATE brands SET name = 'Silently Renamed' WHERE id = 4`);
      });
      const silent = await testDb.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM products WHERE brand_id = 4',
      );
      const report = await reconcileCollection(runtime, { collection: 'catalog', mode: 'fix' });
      assert.equal(
        report.counts.stale,
        silent.rows[0]!.n,
        'every product of the brand is stale by its content hash',
      );
      assert.equal(report.repair?.repaired, silent.rows[0]!.n);
      await converged();
    });
  });
}
