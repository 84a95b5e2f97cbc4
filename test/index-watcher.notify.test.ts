import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createIndexRecord, type IndexRecord, retireIndex } from '../src/index-versions/index-catalog.js';
import { silentLogger } from '../src/logger.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { databaseNow, IndexWatcher, waitForIndexWriters } from '../src/sync/index-watcher.js';
import {
  createProductsTable,
  insertProducts,
  openProductsRuntime,
  products,
  productsConfigWith,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

/** Far longer than any wait below: a reload seen in time was prompted by the notification. */
const REFRESH_MS = 600_000;

describe('index watcher: a change of the catalog reaches every process by NOTIFY, not at its next timed reload', () => {
  let testDb: TestDatabase;
  let serving: VectorsyncRuntime;
  let operator: VectorsyncRuntime;
  let watcher: IndexWatcher;

  before(async () => {
    testDb = await createTestDatabase('index_watcher_notify');
    await createProductsTable(testDb.db);
    await insertProducts(testDb.db, 'acme', products(5, 1));
    const config = productsConfigWith(testDb, { sync: { indexRefreshMs: REFRESH_MS } });
    serving = await openProductsRuntime(testDb, { config });
    operator = await openProductsRuntime(testDb, { config, setup: false });
    watcher = new IndexWatcher(serving, silentLogger, REFRESH_MS);
    await watcher.start();
  });

  after(async () => {
    await watcher.stop();
    await operator.close();
    await serving.close();
    await testDb.drop();
  });

  const servingSees = (record: IndexRecord) =>
    serving.collection('products').targets.some((target) => target.record.id === record.id);

  async function newVersion(): Promise<IndexRecord> {
    await operator.refreshIndexes();
    const active = operator.activeTarget('products');
    return createIndexRecord(operator.db, {
      collection: 'products',
      store: active.storeName,
      storeKind: active.record.storeKind,
      embedding: operator.collection('products').embedding,
      params: active.record.params,
      state: 'building',
    });
  }

  it('a version created in another process is written by this one, and the writer handshake completes, within seconds', async () => {
    const created = await newVersion();
    const since = await databaseNow(operator.db);
    await waitFor(() => servingSees(created), {
      timeoutMs: 10_000,
      message: 'the serving process to see it',
    });
    await waitForIndexWriters(operator.db, { since, staleAfterMs: REFRESH_MS * 3, timeoutMs: 10_000 });

    await retireIndex(operator.db, created.id);
    await waitFor(() => !servingSees(created), {
      timeoutMs: 10_000,
      message: 'the serving process to stop writing the retired version',
    });
  });

  it('a statement that changes no row announces nothing, so no reload can feed itself; a real change does', async () => {
    const listener = new pg.Client({ connectionString: testDb.url });
    await listener.connect();
    try {
      const payloads: string[] = [];
      listener.on('notification', (notification) => payloads.push(notification.payload ?? ''));
      await listener.query('LISTEN vectorsync_indexes');
      // What the embedder-config fill-in issues on a reload once the config is recorded.
      await operator.db.query(
        `UPDATE vectorsync.indexes SET embedder_config = embedder_config WHERE collection = 'products'`,
      );
      await operator.db.query(`UPDATE vectorsync.indexes SET state = state WHERE id = -1`);
      // Notifications arrive in commit order: once this one is in, the ones before would be too.
      await operator.db.query(`SELECT pg_notify('vectorsync_indexes', 'marker')`);
      await waitFor(() => payloads.includes('marker'), { message: 'the marker notification' });
      assert.deepEqual(payloads, ['marker']);

      payloads.length = 0;
      const created = await newVersion();
      await retireIndex(operator.db, created.id);
      await operator.db.query(`SELECT pg_notify('vectorsync_indexes', 'marker')`);
      await waitFor(() => payloads.includes('marker'), { message: 'the marker notification' });
      assert.deepEqual(payloads, ['', '', 'marker'], 'the insert and the retirement, one each');
    } finally {
      await listener.end();
    }
  });

  it('after its LISTEN connection is cut, the watcher reconnects and reloads what it missed', async () => {
    const cut = await testDb.db.query<{ cut: boolean }>(
      `SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'vectorsync-runtime-listen'`,
    );
    assert.equal(cut.rows.length, 1, "one LISTEN session: the watcher's");
    const created = await newVersion();
    await waitFor(() => servingSees(created), {
      timeoutMs: 15_000,
      message: 'the serving process to see the version created while it was disconnected',
    });
    await retireIndex(operator.db, created.id);
  });
});
