import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { slotInfo } from '../src/capture/cdc/cdc-setup.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { SearchService } from '../src/search/search-service.js';
import { readSyncStatus } from '../src/status/sync-status.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import {
  assertIndexMatchesSource,
  createProductsTable,
  indexMatchesSource,
  indexRows,
  insertProducts,
  openProductsRuntime,
  products,
  productsConfigWith,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

describe('CDC sync: logical replication (pgoutput) into the pgvector index', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let workers: SyncWorkers;
  let location: string;
  const synced = () =>
    waitFor(() => indexMatchesSource(testDb.db, location), {
      message: async () =>
        `index to match the source (${await assertIndexMatchesSource(testDb.db, location).catch((e) => e.message)})`,
    });

  before(async () => {
    testDb = await createTestDatabase('cdc_sync');
    await createProductsTable(testDb.db);
    // Rows that exist before setup reach the index through the backfill.
    await insertProducts(testDb.db, 'acme', products(40, 1));
    runtime = await openProductsRuntime(testDb, {
      config: productsConfigWith(testDb, { mode: 'cdc', cdc: { maxLagBytes: 1 } }),
    });
    location = runtime.activeTarget('products').record.location;
    workers = new SyncWorkers(runtime, runtime.logger);
    await workers.start();
  });

  after(async () => {
    await workers.stop();
    await runtime.close();
    await testDb.drop();
  });

  it('backfills existing rows, then captures direct SQL writes without any trigger', async () => {
    await synced();
    const batch = products(25, 2);
    await insertProducts(testDb.db, 'globex', batch);
    await testDb.db.query(
      `UPDATE products SET name = 'Velvet evening gown', description = 'A velvet gown for gala nights' WHERE article_id = $1`,
      [batch[0]!.article_id],
    );
    await testDb.db.query('DELETE FROM products WHERE article_id = $1', [batch[1]!.article_id]);
    // A tenant move and a key change: the old key must leave the index.
    await testDb.db.query(`UPDATE products SET tenant_id = 'initech' WHERE article_id = $1`, [
      batch[2]!.article_id,
    ]);
    await testDb.db.query(`UPDATE products SET article_id = 'renamed-1' WHERE article_id = $1`, [
      batch[3]!.article_id,
    ]);
    await synced();
    const rows = await indexRows(testDb.db, location);
    assert.equal(rows.size, 64);
    assert.equal(rows.get(batch[2]!.article_id)?.tenant, 'initech');
    assert.ok(rows.has('renamed-1') && !rows.has(batch[3]!.article_id));

    const captureTriggers = await testDb.db.query(
      `SELECT tgname FROM pg_trigger WHERE tgrelid = 'products'::regclass AND NOT tgisinternal AND tgname NOT LIKE '%_version'`,
    );
    assert.deepEqual(captureTriggers.rows, [], 'CDC needs no capture triggers');
    const captured = await testDb.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM vectorsync.outbox WHERE origin <> 'backfill'`,
    );
    assert.equal(captured.rows[0]!.n, 0, 'nothing went through the outbox');

    const hits = await new SearchService(runtime).search({
      collection: 'products',
      tenant: 'globex',
      query: 'velvet gown',
      k: 3,
    });
    assert.equal(hits.hits[0]?.id, batch[0]!.article_id);
  });

  it('keeps an unchanged TOASTed column: the index is rebuilt from the row, not from the WAL', async () => {
    await testDb.db.query(`ALTER TABLE products ALTER COLUMN description SET STORAGE EXTERNAL`);
    const long = `${'quasar '.repeat(50)}${Array.from({ length: 800 }, (_, i) => `filler${i}`).join(' ')}`;
    await testDb.db.query(
      `INSERT INTO products (article_id, tenant_id, name, description, product_type) VALUES ('toast-1', 'acme', 'Long story', $1, 'Book')`,
      [long],
    );
    await synced();
    await testDb.db.query(`UPDATE products SET price = 12.5 WHERE article_id = 'toast-1'`);
    await synced();
    const search = new SearchService(runtime);
    const result = await search.search({
      collection: 'products',
      tenant: 'acme',
      query: 'quasar',
      mode: 'keyword',
      k: 1,
    });
    assert.equal(result.hits[0]?.id, 'toast-1', 'the description is still indexed after the update');
    assert.equal(result.hits[0]?.payload.price, 12.5);
  });

  it('keeps streaming when a column is added to the source table', async () => {
    await testDb.db.query(`ALTER TABLE products ADD COLUMN season text DEFAULT 'all'`);
    await insertProducts(testDb.db, 'acme', products(5, 3));
    await testDb.db.query(
      `UPDATE products SET season = 'winter', name = name || ' (winter)' WHERE tenant_id = 'acme'`,
    );
    await synced();
  });

  it('records a change it cannot apply as failed and moves the slot on', async () => {
    const before = await slotInfo(testDb.db, runtime.config.cdc.slot);
    // No tenant: the document cannot be built, whatever the retries.
    await testDb.db.query(
      `INSERT INTO products (article_id, tenant_id, name) VALUES ('no-tenant', '', 'Orphan product')`,
    );
    await insertProducts(testDb.db, 'acme', products(3, 4));
    const failed = await waitFor(async () => {
      const result = await testDb.db.query<{ source_id: string; last_error_code: string; origin: string }>(
        `SELECT source_id, last_error_code, origin FROM vectorsync.outbox WHERE status = 'failed'`,
      );
      return result.rows.length > 0 ? result.rows : undefined;
    });
    assert.deepEqual(failed, [{ source_id: 'no-tenant', last_error_code: 'TENANT_REQUIRED', origin: 'cdc' }]);
    await waitFor(async () => {
      const rows = await indexRows(testDb.db, location);
      return products(3, 4).every((product) => rows.has(product.article_id));
    });
    const after = await waitFor(async () => {
      const info = await slotInfo(testDb.db, runtime.config.cdc.slot);
      return info?.confirmedFlushLsn &&
        before?.confirmedFlushLsn &&
        info.confirmedFlushLsn > before.confirmedFlushLsn
        ? info
        : undefined;
    });
    assert.ok(after.confirmedFlushLsn! > before!.confirmedFlushLsn!);
    await testDb.db.query(`DELETE FROM products WHERE article_id = 'no-tenant'`);
  });

  it('empties the index on TRUNCATE and indexes what comes after', async () => {
    // CASCADE: the index table in the same database references the source by foreign key.
    await testDb.db.query('TRUNCATE products CASCADE');
    await waitFor(async () => (await indexRows(testDb.db, location)).size === 0, {
      message: 'index to empty',
    });
    await insertProducts(testDb.db, 'acme', products(4, 5));
    await synced();
    assert.equal((await indexRows(testDb.db, location)).size, 4);
  });

  it('shows slot lag in bytes and seconds in sync status, and warns above the threshold', async () => {
    const live = await readSyncStatus(runtime);
    assert.ok(live.cdc, 'a cdc section');
    assert.equal(live.cdc.slot, runtime.config.cdc.slot);
    assert.equal(live.cdc.exists, true);
    assert.equal(live.cdc.active, true);
    assert.ok(live.cdc.retainedBytes > 1, 'the slot retains some WAL');
    assert.match(live.cdc.warning ?? '', /cdc\.maxLagBytes/, 'warns above the (tiny) byte threshold');

    // With the consumer stopped, changes pile up in the slot and the lag grows in both units.
    await workers.cdc!.stop();
    await insertProducts(testDb.db, 'acme', products(10, 6));
    const behind = await waitFor(async () => {
      const status = (await readSyncStatus(runtime)).cdc!;
      return !status.active && status.lagBytes > 0 && status.lagSeconds >= 1 ? status : undefined;
    });
    assert.ok(behind.lagBytes > 0);
    await workers.cdc!.start();
    await synced();
    const caughtUp = await waitFor(async () => {
      const status = (await readSyncStatus(runtime)).cdc!;
      return status.active && status.lagSeconds < 1 ? status : undefined;
    });
    assert.ok(caughtUp.lagSeconds < 1);
  });
});
