import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../src/config/resolve-config.js';
import { demoConfig } from '../src/demo/demo-schema.js';
import { ErrorCode, isVectorsyncError } from '../src/errors.js';
import { migrationState } from '../src/index-versions/migration-lifecycle.js';
import { reembed } from '../src/index-versions/reembed.js';
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

  it('with the config naming another model: setup refuses, the serving version keeps its own model for writes and searches, and reembed moves to the new one', async () => {
    const runtime = await VectorsyncRuntime.open({ config: config('fake-v2'), db: testDb.connect() });
    const search = new SearchService(runtime);
    const models = (since: number) => new Set(server.requests.slice(since).map((request) => request.model));
    try {
      await assert.rejects(setupCollections(runtime), (error) => {
        assert.ok(isVectorsyncError(error, ErrorCode.EmbedderMismatch));
        assert.match(
          error.message,
          /built with openai:fake-v1 \(16 dimensions\) but the config now names openai:fake-v2 \(16 dimensions\)/,
        );
        assert.match(error.message, /vectorsync reembed --collection products/);
        return true;
      });
      const old = runtime.activeTarget('products').record;
      let since = server.requests.length;
      const before = await search.search({
        collection: 'products',
        tenant: 'acme',
        query: 'winter jacket',
        k: 3,
      });
      assert.equal(before.hits.length, 3);
      assert.deepEqual(
        models(since),
        new Set(['fake-v1']),
        'the query is embedded with the serving version’s model',
      );

      // A worker whose config names fake-v2 still writes the fake-v1 version with fake-v1.
      since = server.requests.length;
      await testDb.db.query(`UPDATE products SET name = 'A renamed parka' WHERE article_id = $1`, [
        (
          await testDb.db.query<{ id: string }>(
            'SELECT article_id AS id FROM products ORDER BY article_id LIMIT 1',
          )
        ).rows[0]!.id,
      ]);
      const worker = new OutboxWorker({ runtime });
      await worker.start();
      try {
        await waitFor(() => outboxDrained(testDb.db));
      } finally {
        await worker.stop();
      }
      assert.deepEqual(models(since), new Set(['fake-v1']));
      await assertIndexMatchesSource(testDb.db, old.location);

      since = server.requests.length;
      const report = await reembed(runtime, { collection: 'products', queries: 10 });
      assert.equal(report.modelChanged, true);
      assert.deepEqual(report.problems, []);
      assert.equal(report.cutover, true);
      assert.equal(report.to.embedderModel, 'openai:fake-v2');
      assert.ok(models(since).has('fake-v2'));
      await assertIndexMatchesSource(testDb.db, report.to.location);
      since = server.requests.length;
      const after = await search.search({
        collection: 'products',
        tenant: 'acme',
        query: 'winter parka',
        k: 3,
      });
      assert.equal(after.hits.length, 3);
      assert.deepEqual(models(since), new Set(['fake-v2']));
      const state = await migrationState(runtime, 'products');
      assert.equal(state.standby?.location, old.location, 'the old version is kept, in sync, for rollback');
      assert.equal(state.embedderMatches, true);
      await setupCollections(runtime);
    } finally {
      await runtime.close();
    }
  });
});
