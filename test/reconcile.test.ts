import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { reconcileCollection } from '../src/reconcile/reconcile-collection.js';
import type { ReconcileReport } from '../src/reconcile/reconcile-report.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import { behindSyncsBack, sampleIds, withUpdateCaptureOff } from './helpers/drift.js';
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

// Small pages and row budgets so that a few hundred rows exercise every paging path.
const settings = { pageSize: 37, sampleSize: 1000, diffRowBudget: 25, repairBatchSize: 7 };

describe('reconcile: each kind of drift is found exactly, and --fix returns to in-sync', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let worker: OutboxWorker;
  let table: string;
  const acme = products(150, 51);
  const globex = products(90, 52);

  const reconcile = (mode: 'report' | 'fix' | 'dry-run' = 'report', tenant?: string) =>
    reconcileCollection(runtime, {
      collection: 'products',
      mode,
      settings,
      ...(tenant !== undefined ? { tenant } : {}),
    });

  const assertInSync = async () => {
    const report = await reconcile();
    assert.equal(report.status, 'completed');
    assert.deepEqual(report.counts, {
      missing: 0,
      orphaned: 0,
      stale: 0,
      unbuildable: 0,
      inFlight: 0,
      blockedByTombstone: 0,
      newerThanSource: 0,
    });
    assert.equal(report.inSync, true);
    assert.equal(report.fastPath.differingGroups, 0, 'an in-sync index differs in no checksum group');
    assert.equal(report.fastPath.rowsCompared, 0, 'and nothing is compared row by row');
    await assertIndexMatchesSource(testDb.db, table);
    return report;
  };

  before(async () => {
    testDb = await createTestDatabase('reconcile');
    await createProductsTable(testDb.db);
    await insertProducts(testDb.db, 'acme', acme);
    await insertProducts(testDb.db, 'globex', globex);
    runtime = await openProductsRuntime(testDb);
    table = runtime.activeTarget('products').record.location;
    worker = new OutboxWorker({ runtime });
    await worker.start();
    await waitFor(() => outboxDrained(testDb.db), { message: 'backfill' });
  });

  after(async () => {
    await worker.stop();
    await runtime.close();
    await testDb.drop();
  });

  it('finds nothing in an index that sync keeps, touching no row individually', async () => {
    const report = await assertInSync();
    assert.equal(report.sourceRows, 240);
    assert.equal(report.indexRecords, 240);
    assert.equal(report.fastPath.checksumsBy, 'store');
    assert.ok(report.fastPath.groups > 200, 'records spread over many bucket groups');
  });

  it('finds records deleted from the index behind sync’s back as missing, and nothing else', async () => {
    const gone = [acme[3]!.article_id, acme[40]!.article_id, globex[7]!.article_id];
    // The index table has no capture: a plain delete is behind sync's back (its own BM25 triggers stay consistent).
    assert.equal(
      (await testDb.db.query(`DELETE FROM vectorsync."${table}" WHERE id = ANY($1)`, [gone])).rowCount,
      3,
    );
    const report = await reconcile();
    assert.deepEqual(sampleIds(report.samples.missing), [...gone].sort());
    assert.deepEqual(report.counts, {
      missing: 3,
      orphaned: 0,
      stale: 0,
      unbuildable: 0,
      inFlight: 0,
      blockedByTombstone: 0,
      newerThanSource: 0,
    });
    assert.equal(report.inSync, false);
    assert.ok(report.fastPath.differingGroups >= 1 && report.fastPath.differingGroups <= 3);
    assert.deepEqual(report.byTenant.acme, { missing: 2, orphaned: 0, stale: 0, unbuildable: 0 });
    assert.deepEqual(report.byTenant.globex, { missing: 1, orphaned: 0, stale: 0, unbuildable: 0 });
    const fixed = await reconcile('fix');
    assert.equal(fixed.repair?.repaired, 3, JSON.stringify(fixed.repair));
    await assertInSync();
  });

  it('finds orphans (source rows deleted with capture and the cascade off) and deletes them version-guarded', async () => {
    const orphans = [acme[10]!.article_id, globex[20]!.article_id];
    await behindSyncsBack(testDb.db, 'DELETE FROM products WHERE article_id = ANY($1)', [orphans]);
    assert.equal((await indexRows(testDb.db, table)).size, 240, 'the index still holds them');
    const report = await reconcile();
    assert.deepEqual(sampleIds(report.samples.orphaned), [...orphans].sort());
    assert.deepEqual(report.counts, {
      missing: 0,
      orphaned: 2,
      stale: 0,
      unbuildable: 0,
      inFlight: 0,
      blockedByTombstone: 0,
      newerThanSource: 0,
    });
    const orphanSample = report.samples.orphaned.find((sample) => sample.id === orphans[0]);
    assert.equal(orphanSample?.tenant, 'acme');

    const fixed = await reconcile('fix');
    assert.equal(fixed.repair?.repaired, 2);
    const tombstones = await testDb.db.query<{ id: string }>(
      `SELECT id FROM vectorsync."${table}_tomb" WHERE id = ANY($1) ORDER BY id`,
      [orphans],
    );
    assert.deepEqual(
      tombstones.rows.map((row) => row.id),
      [...orphans].sort(),
      'deletes leave tombstones',
    );
    await assertInSync();
  });

  it('finds stale records: a tampered stored version, and source changes made with capture off', async () => {
    const tampered = acme[50]!.article_id;
    await testDb.db.query(`UPDATE vectorsync."${table}" SET version = version - 1 WHERE id = $1`, [tampered]);
    // Capture trigger off, version trigger on: the version moves, the index does not.
    const newVersion = globex[30]!.article_id;
    await withUpdateCaptureOff(testDb.db, 'products', () =>
      testDb.db.query(`UPDATE products SET name = 'Quilted parka' WHERE article_id = $1`, [newVersion]),
    );
    // Every trigger off: the text changes, the version does not; only the content hash tells.
    const sameVersion = acme[60]!.article_id;
    await behindSyncsBack(
      testDb.db,
      `UPDATE products SET description = 'Now with a hood' WHERE article_id = $1`,
      [sameVersion],
    );
    // A payload-only change with every trigger off is not drift the contract can see (documented).
    const priceOnly = acme[61]!.article_id;
    await behindSyncsBack(testDb.db, 'UPDATE products SET price = price + 1 WHERE article_id = $1', [
      priceOnly,
    ]);

    const report = await reconcile();
    assert.deepEqual(sampleIds(report.samples.stale), [tampered, newVersion, sameVersion].sort());
    assert.deepEqual(report.counts, {
      missing: 0,
      orphaned: 0,
      stale: 3,
      unbuildable: 0,
      inFlight: 0,
      blockedByTombstone: 0,
      newerThanSource: 0,
    });
    const reasons = Object.fromEntries(report.samples.stale.map((sample) => [sample.id, sample.reason]));
    assert.deepEqual(reasons, { [tampered]: 'version', [newVersion]: 'version', [sameVersion]: 'content' });
    const tamperedSample = report.samples.stale.find((sample) => sample.id === tampered)!;
    assert.equal(tamperedSample.indexVersion, tamperedSample.sourceVersion! - 1);

    const dryRun = await reconcile('dry-run');
    assert.equal(dryRun.repair?.planned, 3);
    assert.equal(dryRun.repair?.repaired, 0);
    assert.deepEqual(
      dryRun.repair?.actions.map((action) => `${action.action}:${action.kind}:${action.id}`).sort(),
      [tampered, newVersion, sameVersion].map((id) => `upsert:stale:${id}`).sort(),
    );
    assert.equal((await reconcile()).counts.stale, 3, 'a dry run changes nothing');

    const fixed = await reconcile('fix');
    assert.deepEqual(
      { repaired: fixed.repair?.repaired, skipped: fixed.repair?.skipped, failed: fixed.repair?.failed },
      { repaired: 3, skipped: 0, failed: 0 },
    );
    await assertInSync();
  });

  it('sees a row moved to another tenant behind sync’s back as stale globally, orphaned and missing per tenant', async () => {
    const moved = acme[70]!.article_id;
    // Capture off, version trigger on (a tenant change without a new version is invisible to the
    // global checksums, which cover id, version and content hash: see docs/reconciliation.md).
    await withUpdateCaptureOff(testDb.db, 'products', () =>
      testDb.db.query(`UPDATE products SET tenant_id = 'globex' WHERE article_id = $1`, [moved]),
    );
    const global = await reconcile();
    assert.deepEqual(
      global.samples.stale.map((s) => [s.id, s.reason, s.tenant]),
      [[moved, 'tenant', 'acme']],
    );
    const acmeOnly = await reconcile('report', 'acme');
    assert.deepEqual(acmeOnly.counts, {
      missing: 0,
      orphaned: 1,
      stale: 0,
      unbuildable: 0,
      inFlight: 0,
      blockedByTombstone: 0,
      newerThanSource: 0,
    });
    assert.equal(acmeOnly.samples.orphaned[0]?.id, moved);
    assert.equal(
      acmeOnly.sourceRows,
      150 - 1 - 1,
      'only acme rows are read (one was orphaned above, one moved)',
    );
    const globexOnly = await reconcile('report', 'globex');
    assert.deepEqual(globexOnly.counts, {
      missing: 1,
      orphaned: 0,
      stale: 0,
      unbuildable: 0,
      inFlight: 0,
      blockedByTombstone: 0,
      newerThanSource: 0,
    });

    // Repairing from the acme side moves it: the Applier finds the row under globex.
    const fixed = await reconcile('fix', 'acme');
    assert.equal(fixed.repair?.repaired, 1);
    assert.equal((await indexRows(testDb.db, table)).get(moved)?.tenant, 'globex');
    await assertInSync();
  });

  it('counts differences whose outbox event is still pending as in flight, not drift', async () => {
    await worker.stop();
    try {
      const changed = globex[40]!.article_id;
      await testDb.db.query(`UPDATE products SET name = 'Linen shirt' WHERE article_id = $1`, [changed]);
      const report = await reconcile();
      assert.deepEqual(report.counts, {
        missing: 0,
        orphaned: 0,
        stale: 0,
        unbuildable: 0,
        inFlight: 1,
        blockedByTombstone: 0,
        newerThanSource: 0,
      });
      assert.equal(report.inSync, true);
    } finally {
      await worker.start();
    }
    await waitFor(() => outboxDrained(testDb.db));
    await assertInSync();
  });

  it('repairs mixed drift in many chunks, and a second run finds nothing', async () => {
    const missing = acme.slice(80, 110).map((item) => item.article_id);
    const stale = globex.slice(50, 80).map((item) => item.article_id);
    const orphaned = acme.slice(110, 120).map((item) => item.article_id);
    await testDb.db.query(`DELETE FROM vectorsync."${table}" WHERE id = ANY($1)`, [missing]);
    await testDb.db.query(
      `UPDATE vectorsync."${table}" SET content_hash = 'x' || content_hash WHERE id = ANY($1)`,
      [stale],
    );
    await behindSyncsBack(testDb.db, 'DELETE FROM products WHERE article_id = ANY($1)', [orphaned]);
    const report = await reconcile();
    assert.deepEqual(sampleIds(report.samples.missing), [...missing].sort());
    assert.deepEqual(sampleIds(report.samples.stale), [...stale].sort());
    assert.deepEqual(sampleIds(report.samples.orphaned), [...orphaned].sort());
    const fixed: ReconcileReport = await reconcile('fix');
    assert.equal(fixed.repair?.planned, 70);
    assert.equal(fixed.repair?.repaired, 70);
    await assertInSync();
  });
});
