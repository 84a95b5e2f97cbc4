import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { reconcileCollection } from '../src/reconcile/reconcile-collection.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import { behindSyncsBack } from './helpers/drift.js';
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

const settings = { pageSize: 50, sampleSize: 1000, repairBatchSize: 10 };

describe('reconcile --fix racing sync: a repair never undoes a newer write', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let worker: OutboxWorker;
  let table: string;
  const items = products(300, 61);

  const drain = async () => {
    await worker.start();
    await waitFor(() => outboxDrained(testDb.db), { message: 'outbox to drain' });
  };
  const assertInSync = async () => {
    const report = await reconcileCollection(runtime, { collection: 'products', settings });
    assert.deepEqual(report.counts, {
      missing: 0,
      orphaned: 0,
      stale: 0,
      unbuildable: 0,
      inFlight: 0,
      blockedByTombstone: 0,
      newerThanSource: 0,
    });
    await assertIndexMatchesSource(testDb.db, table);
  };
  const versionOf = async (id: string) =>
    Number(
      (
        await testDb.db.query<{ v: string }>(
          'SELECT version::text AS v FROM products WHERE article_id = $1',
          [id],
        )
      ).rows[0]?.v,
    );

  before(async () => {
    testDb = await createTestDatabase('reconcile_race');
    await createProductsTable(testDb.db);
    runtime = await openProductsRuntime(testDb);
    table = runtime.activeTarget('products').record.location;
    worker = new OutboxWorker({ runtime });
    await insertProducts(testDb.db, 'acme', items);
    await drain();
  });

  after(async () => {
    await worker.stop();
    await runtime.close();
    await testDb.drop();
  });

  it('re-indexes a row inserted again while the run decides it is an orphan (insert before the repair)', async () => {
    await worker.stop();
    const [item] = products(1, 62);
    await insertProducts(testDb.db, 'acme', [item!]);
    await drain();
    await worker.stop();
    const id = item!.article_id;
    await behindSyncsBack(testDb.db, 'DELETE FROM products WHERE article_id = $1', [id]);
    const orphanVersion = (await indexRows(testDb.db, table)).get(id)!.version;

    let sawOrphan = false;
    const report = await reconcileCollection(runtime, {
      collection: 'products',
      mode: 'fix',
      settings,
      onAction: async (action) => {
        if (action.id !== id) return;
        sawOrphan =
          action.kind === 'orphaned' && action.action === 'delete' && action.version === orphanVersion;
        // The application inserts the row again (captured; the worker is stopped).
        await insertProducts(testDb.db, 'acme', [item!]);
      },
    });
    assert.ok(sawOrphan, 'the run decided the record was an orphan, at the version the index held');
    assert.equal(report.counts.orphaned, 1);
    const indexed = (await indexRows(testDb.db, table)).get(id);
    const sourceVersion = await versionOf(id);
    assert.ok(sourceVersion > orphanVersion);
    assert.equal(indexed?.version, sourceVersion, 'the repair read the source and indexed the new row');
    assert.equal(report.repair?.repaired, 1);
    await drain();
    await assertInSync();
  });

  it('keeps the row when sync indexes the new insert first (the guarded repair is skipped)', async () => {
    const [item] = products(1, 63);
    await insertProducts(testDb.db, 'acme', [item!]);
    await waitFor(() => outboxDrained(testDb.db));
    const id = item!.article_id;
    await behindSyncsBack(testDb.db, 'DELETE FROM products WHERE article_id = $1', [id]);
    const report = await reconcileCollection(runtime, {
      collection: 'products',
      mode: 'fix',
      settings,
      onAction: async (action) => {
        if (action.id !== id) return;
        await insertProducts(testDb.db, 'acme', [item!]);
        await waitFor(
          async () => (await indexRows(testDb.db, table)).get(id)?.version === (await versionOf(id)),
          {
            message: 'sync to index the new row',
          },
        );
      },
    });
    assert.equal(report.counts.orphaned, 1);
    assert.equal(report.repair?.skipped, 1, 'the index already held the newer version');
    assert.equal((await indexRows(testDb.db, table)).get(id)?.version, await versionOf(id));
    await waitFor(() => outboxDrained(testDb.db));
    await assertInSync();
  });

  it('a version-guarded delete of an older version leaves a newer record, and a newer insert beats its tombstone', async () => {
    const target = runtime.activeTarget('products');
    const id = items[5]!.article_id;
    const stored = (await indexRows(testDb.db, table)).get(id)!;
    await testDb.db.query(`UPDATE products SET name = 'Corduroy trousers' WHERE article_id = $1`, [id]);
    await waitFor(() => outboxDrained(testDb.db));
    const [result] = await target.store.delete(target.spec, [
      { tenant: 'acme', id, version: stored.version },
    ]);
    assert.equal(result?.outcome, 'skipped_stale');
    assert.ok((await indexRows(testDb.db, table)).has(id), 'the newer record survives the stale delete');

    // The other order: the orphan is deleted first (tombstone at the old version) …
    const orphan = items[6]!.article_id;
    await behindSyncsBack(testDb.db, 'DELETE FROM products WHERE article_id = $1', [orphan]);
    const fixed = await reconcileCollection(runtime, { collection: 'products', mode: 'fix', settings });
    assert.equal(fixed.repair?.repaired, 1);
    assert.ok(!(await indexRows(testDb.db, table)).has(orphan));
    // … then the row comes back with a newer version, and sync indexes it.
    await insertProducts(testDb.db, 'acme', [items[6]!]);
    await waitFor(() => outboxDrained(testDb.db));
    assert.equal((await indexRows(testDb.db, table)).get(orphan)?.version, await versionOf(orphan));
    await assertInSync();
  });

  it('ends in sync when the application writes the drifted rows while the fix runs', async () => {
    const live = items.slice(20, 220);
    const missing = live.slice(0, 120).map((item) => item.article_id);
    const stale = live.slice(120).map((item) => item.article_id);
    await testDb.db.query(`DELETE FROM vectorsync."${table}" WHERE id = ANY($1)`, [missing]);
    await testDb.db.query(`UPDATE vectorsync."${table}" SET version = version - 1 WHERE id = ANY($1)`, [
      stale,
    ]);

    // The writer touches the drifted rows (updates, deletes, re-inserts) during every repair batch.
    const writer = testDb.connect({ max: 2, applicationName: 'app-writer' });
    const writes: Promise<unknown>[] = [];
    let turn = 0;
    const write = () => {
      const n = turn++;
      const id = live[(n * 7) % live.length]!.article_id;
      if (n % 5 === 4) return writer.query('DELETE FROM products WHERE article_id = $1', [id]);
      return writer.query(`UPDATE products SET name = name || ' v' || $2 WHERE article_id = $1`, [id, n]);
    };
    const report = await reconcileCollection(runtime, {
      collection: 'products',
      mode: 'fix',
      settings,
      onProgress: (progress) => {
        if (progress.phase === 'repair') for (let i = 0; i < 3; i++) writes.push(write());
      },
      onAction: async (action) => {
        if (turn % 4 === 0) writes.push(write());
        if (action.id === missing[10]) await write();
      },
    });
    await Promise.all(writes);
    await writer.close();
    assert.ok(turn > 30, `the writer ran during the fix (${turn} writes)`);
    assert.equal(report.counts.missing + report.counts.stale + report.counts.inFlight, 200);
    assert.equal(report.repair?.failed, 0);
    await waitFor(() => outboxDrained(testDb.db), { message: 'the writes to be synced' });
    await assertInSync();
  });
});
