import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../src/config/resolve-config.js';
import { demoConfig } from '../src/demo/demo-schema.js';
import { ErrorCode, isVectorsyncError } from '../src/errors.js';
import { readSourceRows } from '../src/pipeline/source-reader.js';
import { reconcileCollection } from '../src/reconcile/reconcile-collection.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { SearchService } from '../src/search/search-service.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import { sampleIds } from './helpers/drift.js';
import { FakeEmbeddingServer } from './helpers/fake-embedding-server.js';
import {
  assertIndexMatchesSource,
  createProductsTable,
  fastSync,
  insertProducts,
  outboxDrained,
  products,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

describe('reconcile: the embedder model is part of what an index record must match', () => {
  let testDb: TestDatabase;
  const server = new FakeEmbeddingServer({ dimensions: 16 });
  let baseUrl: string;
  let runtime: VectorsyncRuntime;
  const items = products(40, 95);

  const config = (model: string) =>
    parseConfig({
      ...demoConfig({
        embedder: { provider: 'openai', model, dimensions: 16, baseUrl, apiKeyEnv: 'NO_KEY' },
      }),
      databaseUrl: testDb.url,
      sync: fastSync,
    });
  const open = (model: string) => VectorsyncRuntime.open({ config: config(model), db: testDb.connect() });
  const syncWith = async (runtimeToUse: VectorsyncRuntime) => {
    const worker = new OutboxWorker({ runtime: runtimeToUse });
    await worker.start();
    await waitFor(() => outboxDrained(testDb.db));
    await worker.stop();
  };

  before(async () => {
    testDb = await createTestDatabase('reconcile_embedder');
    await createProductsTable(testDb.db);
    baseUrl = await server.start();
    runtime = await open('fake-v1');
    await setupCollections(runtime);
    await insertProducts(testDb.db, 'acme', items);
    await syncWith(runtime);
  });

  after(async () => {
    await runtime.close();
    await server.stop();
    await testDb.drop();
  });

  it('finds exactly the records another model wrote (a writer that ignores the recorded embedder) as stale, and re-embeds them', async () => {
    const rogue = await open('fake-v2');
    try {
      const touched = items.slice(0, 4).map((item) => item.article_id);
      await testDb.db.query(`UPDATE products SET price = price + 1 WHERE article_id = ANY($1)`, [touched]);
      await syncWith(runtime);
      // What a process of an older vectorsync, which knows only its own config, would write: the
      // current rows embedded with fake-v2, into the version built with fake-v1.
      const rogueCollection = rogue.collection('products');
      const rows = await readSourceRows(testDb.db, rogueCollection.definition, touched);
      const prepared = await rogue.documents.prepare(rogueCollection, [...rows.values()]);
      const target = runtime.activeTarget('products');
      const written = await target.store.upsert(
        target.spec,
        prepared.documents.map((result) => {
          assert.ok('document' in result);
          return result.document;
        }),
      );
      assert.ok(written.every((result) => result.outcome === 'applied'));

      const report = await reconcileCollection(runtime, {
        collection: 'products',
        settings: { sampleSize: 100 },
      });
      assert.deepEqual(report.counts, {
        missing: 0,
        orphaned: 0,
        stale: 4,
        unbuildable: 0,
        inFlight: 0,
        blockedByTombstone: 0,
        newerThanSource: 0,
      });
      assert.deepEqual(sampleIds(report.samples.stale), [...touched].sort());
      assert.ok(report.samples.stale.every((sample) => sample.reason === 'content'));
      assert.equal(report.embedderMismatch, null);

      const requestsBefore = server.requests.length;
      const fixed = await reconcileCollection(runtime, { collection: 'products', mode: 'fix' });
      assert.equal(fixed.repair?.repaired, 4);
      // fake-v1 vectors of those texts are in the embedding cache (same content hash): no request, and none to fake-v2.
      assert.ok(server.requests.slice(requestsBefore).every((request) => request.model === 'fake-v1'));
      const again = await reconcileCollection(runtime, { collection: 'products' });
      assert.equal(again.inSync, true);
      await assertIndexMatchesSource(testDb.db, runtime.activeTarget('products').record.location);
    } finally {
      await rogue.close();
    }
  });

  it('with the config switched to another model, compares the index with the model that built it and says a re-embed is due', async () => {
    const switched = await open('fake-v2');
    try {
      const report = await reconcileCollection(switched, { collection: 'products' });
      assert.equal(report.counts.stale, 0);
      assert.equal(report.inSync, true);
      assert.deepEqual(report.embedderMismatch, {
        index: 'openai:fake-v1/16',
        configured: 'openai:fake-v2/16',
      });
      const fixed = await reconcileCollection(switched, { collection: 'products', mode: 'fix' });
      assert.equal(fixed.repair?.repaired ?? 0, 0);
    } finally {
      await switched.close();
    }
  });

  it('an index recorded without its embedder config, for a model the config no longer names: every record stale, and no fix', async () => {
    const location = runtime.activeTarget('products').record.location;
    await testDb.db.query('UPDATE vectorsync.indexes SET embedder_config = NULL WHERE location = $1', [
      location,
    ]);
    const switched = await open('fake-v2');
    try {
      const report = await reconcileCollection(switched, { collection: 'products' });
      assert.equal(report.counts.stale, 40);
      await assert.rejects(
        reconcileCollection(switched, { collection: 'products', mode: 'fix' }),
        (error: unknown) => {
          assert.ok(isVectorsyncError(error, ErrorCode.EmbedderMismatch));
          assert.match((error as Error).message, /vectorsync reembed --collection products/);
          return true;
        },
      );
      await assert.rejects(
        new SearchService(switched).search({ collection: 'products', tenant: 'acme', query: 'jacket', k: 3 }),
        (error: unknown) => isVectorsyncError(error, ErrorCode.EmbedderMismatch),
      );
    } finally {
      await switched.close();
    }
    // The first process whose config has the index's model records the config again.
    await runtime.refreshIndexes();
    const recorded = await testDb.db.query<{ config: unknown }>(
      'SELECT embedder_config AS config FROM vectorsync.indexes WHERE location = $1',
      [location],
    );
    assert.equal((recorded.rows[0]!.config as { model: string }).model, 'fake-v1');
  });
});
