import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../src/config/resolve-config.js';
import { migrate } from '../src/db/migrator.js';
import { PgliteDatabase } from '../src/db/pglite-database.js';
import { demoConfig, demoProductsTableSql } from '../src/demo/demo-schema.js';
import { reconcileCollection } from '../src/reconcile/reconcile-collection.js';
import { tryReconcileLock } from '../src/reconcile/reconcile-lock.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import { insertProducts, outboxDrained, products } from './helpers/products-fixture.js';
import { waitFor } from './helpers/wait-for.js';

describe('reconcile on embedded Postgres (PGlite, one session)', () => {
  let db: PgliteDatabase;
  let runtime: VectorsyncRuntime;

  before(async () => {
    db = await PgliteDatabase.create();
    await migrate(db);
    await db.query(demoProductsTableSql);
    runtime = await VectorsyncRuntime.open({
      config: parseConfig({
        ...demoConfig({ dimensions: 32 }),
        sync: { concurrency: 1, wake: 'poll', pollIntervalMs: 20 },
      }),
      db,
    });
    await setupCollections(runtime);
    await insertProducts(db, 'acme', products(80, 99));
    const worker = new OutboxWorker({ runtime });
    await worker.start();
    await waitFor(() => outboxDrained(db));
    await worker.stop();
  });

  after(async () => {
    await runtime.close();
    await db.close();
  });

  it('finds and repairs drift with the same SQL, and locks with a session lock', async () => {
    assert.equal((await reconcileCollection(runtime, { collection: 'products' })).inSync, true);
    const location = runtime.activeTarget('products').record.location;
    await db.query(
      `DELETE FROM vectorsync."${location}" WHERE id IN (SELECT id FROM vectorsync."${location}" ORDER BY id LIMIT 4)`,
    );
    const held = await tryReconcileLock(db, 'products');
    assert.ok(held);
    await assert.rejects(reconcileCollection(runtime, { collection: 'products' }), /already in progress/);
    await held.release();
    const report = await reconcileCollection(runtime, { collection: 'products', mode: 'fix' });
    assert.equal(report.counts.missing, 4);
    assert.equal(report.repair?.repaired, 4);
    assert.equal((await reconcileCollection(runtime, { collection: 'products' })).inSync, true);
  });
});
