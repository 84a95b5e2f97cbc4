import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../src/config/resolve-config.js';
import { demoConfig } from '../src/demo/demo-schema.js';
import { ErrorCode, isVectorsyncError } from '../src/errors.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { SearchService } from '../src/search/search-service.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import { setupCollections } from '../src/sync/setup-collections.js';
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

describe('embedder identity and the embedding cache through the sync path', () => {
  let testDb: TestDatabase;
  const server = new FakeEmbeddingServer({ dimensions: 16 });
  let baseUrl: string;

  before(async () => {
    testDb = await createTestDatabase('embedder_identity');
    await createProductsTable(testDb.db);
    baseUrl = await server.start();
  });
  after(async () => {
    await server.stop();
    await testDb.drop();
  });

  const config = (model: string, dimensions = 16) =>
    parseConfig({
      ...demoConfig({ embedder: { provider: 'openai', model, dimensions, baseUrl, apiKeyEnv: 'NO_KEY' } }),
      databaseUrl: testDb.url,
      sync: fastSync,
    });

  it('embeds each distinct text once: updates that do not change the text, and re-inserts, hit the cache', async () => {
    const runtime = await VectorsyncRuntime.open({ config: config('fake-v1'), db: testDb.connect() });
    await setupCollections(runtime);
    const worker = new OutboxWorker({ runtime });
    await worker.start();
    try {
      const items = products(10, 81);
      await insertProducts(testDb.db, 'acme', items);
      await waitFor(() => outboxDrained(testDb.db));
      const embeddedTexts = () => server.requests.flatMap((request) => request.input).length;
      assert.equal(embeddedTexts(), 10);

      await testDb.db.query(`UPDATE products SET price = price + 1`); // not part of the text
      await waitFor(() => outboxDrained(testDb.db));
      assert.equal(embeddedTexts(), 10, 'price-only updates re-use the vectors');

      await testDb.db.query('DELETE FROM products WHERE article_id = $1', [items[0]!.article_id]);
      await insertProducts(testDb.db, 'acme', [items[0]!]);
      await waitFor(() => outboxDrained(testDb.db));
      assert.equal(embeddedTexts(), 10, 'the durable cache survives delete and re-insert');

      await testDb.db.query(`UPDATE products SET name = 'Completely new name' WHERE article_id = $1`, [
        items[1]!.article_id,
      ]);
      await waitFor(() => outboxDrained(testDb.db));
      assert.equal(embeddedTexts(), 11);
      await assertIndexMatchesSource(testDb.db, runtime.activeTarget('products').record.location);
    } finally {
      await worker.stop();
      await runtime.close();
    }
  });

  it('refuses to search or set up an index with a different embedder than the one that built it', async () => {
    const runtime = await VectorsyncRuntime.open({ config: config('fake-v2'), db: testDb.connect() });
    try {
      await assert.rejects(setupCollections(runtime), (error) => {
        assert.ok(isVectorsyncError(error, ErrorCode.EmbedderMismatch));
        assert.match(
          error.message,
          /built with openai:fake-v1 \(16 dimensions\) but the config now names openai:fake-v2 \(16 dimensions\)/,
        );
        return true;
      });
      await assert.rejects(
        new SearchService(runtime).search({ collection: 'products', tenant: 'acme', query: 'jacket', k: 3 }),
        (error) => isVectorsyncError(error, ErrorCode.EmbedderMismatch),
      );
      // The explicit way forward: a rebuild from the source with the new model.
      const [result] = await setupCollections(runtime, { rebuild: true });
      assert.equal(result!.index.embedderModel, 'openai:fake-v2');
      assert.equal(result!.retiredIndexes.length, 1);
      assert.equal(result!.backfilled, 10);
      const worker = new OutboxWorker({ runtime });
      await worker.start();
      await waitFor(() => outboxDrained(testDb.db));
      await worker.stop();
      await assertIndexMatchesSource(testDb.db, result!.index.location);
      const hits = await new SearchService(runtime).search({
        collection: 'products',
        tenant: 'acme',
        query: 'jacket',
        k: 3,
      });
      assert.equal(hits.hits.length, 3);
    } finally {
      await runtime.close();
    }
  });
});
