import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../src/config/resolve-config.js';
import { silentLogger } from '../src/logger.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { Applier } from '../src/sync/applier.js';
import type { ChangeEvent } from '../src/sync/change-event.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import { FakeEmbeddingServer } from './helpers/fake-embedding-server.js';
import {
  createProductsTable,
  indexRows,
  insertProducts,
  openProductsRuntime,
  outboxDrained,
  products,
  productsConfigWith,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * A TRUNCATE empties the index in one step and leaves no tombstones, while other workers apply
 * events out of order. Two interleavings used to break the index: a row inserted after the
 * TRUNCATE and applied before it (emptied, never written again), and a write that read a row
 * before the TRUNCATE and landed after it (an orphan nothing deletes). The vectors are in
 * another database, so no cascading foreign key hides either.
 */
describe('TRUNCATE applied out of order with other changes', () => {
  let testDb: TestDatabase;
  let storeDb: TestDatabase;
  let embeddings: FakeEmbeddingServer;
  let runtime: VectorsyncRuntime;
  let location: string;
  let sequence = 0;

  before(async () => {
    testDb = await createTestDatabase('truncate_races');
    storeDb = await createTestDatabase('truncate_races_store');
    embeddings = new FakeEmbeddingServer({ dimensions: 16 });
    const baseUrl = await embeddings.start();
    await createProductsTable(testDb.db);
    const base = productsConfigWith(testDb, { storeDatabaseUrl: storeDb.url });
    runtime = await openProductsRuntime(testDb, {
      config: parseConfig({
        ...JSON.parse(JSON.stringify(base)),
        embedders: {
          default: {
            provider: 'openai',
            model: 'fake',
            dimensions: 16,
            baseUrl,
            apiKeyEnv: 'NO_KEY',
            cache: 'none',
          },
        },
      }),
    });
    location = runtime.activeTarget('products').record.location;
  });
  after(async () => {
    await runtime?.close();
    await embeddings?.stop();
    await storeDb?.drop();
    await testDb?.drop();
  });

  const applier = () => new Applier(runtime, silentLogger);
  const upsert = (id: string, tenant = 'acme'): ChangeEvent => ({
    eventId: `e${++sequence}`,
    collection: 'products',
    tenant,
    sourceId: id,
    op: 'upsert',
    sourceVersion: null,
  });
  const truncate = (): ChangeEvent => ({
    eventId: `e${++sequence}`,
    collection: 'products',
    tenant: '',
    sourceId: '',
    op: 'truncate',
    sourceVersion: null,
  });
  const sourceIds = async () =>
    (await testDb.db.query<{ id: string }>('SELECT article_id AS id FROM products ORDER BY 1')).rows.map(
      (row) => row.id,
    );
  const indexedIds = async () => [...(await indexRows(storeDb.db, location)).keys()].sort();
  const drain = async () => {
    const worker = new OutboxWorker({ runtime });
    await worker.start();
    try {
      await waitFor(() => outboxDrained(testDb.db), { message: 'the queued rows to be indexed' });
    } finally {
      await worker.stop();
    }
  };

  it('a row inserted after the TRUNCATE but applied before it stays indexed', async () => {
    const [a, b] = products(2, 601);
    await insertProducts(testDb.db, 'acme', [{ ...a!, article_id: 'before-truncate' }]);
    await applier().apply([upsert('before-truncate')]);
    await testDb.db.query('TRUNCATE products');
    await insertProducts(testDb.db, 'acme', [{ ...b!, article_id: 'after-truncate' }]);
    // Another worker applied the insert first; the TRUNCATE's event comes last.
    await applier().apply([upsert('after-truncate')]);
    const { outcomes } = await applier().apply([truncate()]);
    assert.deepEqual(
      [...outcomes.values()].map((outcome) => outcome.status),
      ['applied'],
    );
    // Applying the TRUNCATE emptied the index and queued every row the source holds now.
    const queued = await testDb.db.query<{ source_id: string }>(
      `SELECT source_id FROM vectorsync.outbox WHERE origin = 'truncate' AND status = 'pending'`,
    );
    assert.deepEqual(
      queued.rows.map((row) => row.source_id),
      ['after-truncate'],
    );
    await drain();
    assert.deepEqual(await indexedIds(), await sourceIds());
    assert.deepEqual(await indexedIds(), ['after-truncate']);
  });

  it('a write that read a row before the TRUNCATE cannot land after it', async () => {
    await testDb.db.query('TRUNCATE products');
    await applier().apply([truncate()]);
    const [c] = products(1, 602);
    await insertProducts(testDb.db, 'acme', [{ ...c!, article_id: 'read-before-truncate' }]);
    // This worker has read the row and waits for its embedding …
    const release = embeddings.holdNext();
    const seen = embeddings.requests.length;
    const late = applier().apply([upsert('read-before-truncate')]);
    await waitFor(() => embeddings.requests.length > seen, { message: 'the write to reach the embedder' });
    // … while the row is truncated away and the TRUNCATE's event is applied.
    await testDb.db.query('TRUNCATE products');
    const truncating = applier().apply([truncate()]);
    release();
    await Promise.all([late, truncating]);
    await drain();
    assert.deepEqual(await indexedIds(), await sourceIds());
    assert.deepEqual(await indexedIds(), []);
  });
});
