import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { silentLogger } from '../src/logger.js';
import { DEFAULT_MAX_TOKEN_LENGTH } from '../src/pipeline/analyzer.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { createApiKey } from '../src/server/api-keys.js';
import { createServer } from '../src/server/create-server.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import { documentWorkerHooksModule, HookCell, hookControl } from './helpers/document-worker-hooks.js';
import { createProductsTable, outboxDrained, productsConfig } from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * A 1 MB single-word document used to freeze the service: stemming one 1,000,000-letter token
 * on the event loop the HTTP server shares. Now the document is built in a worker thread, and
 * the analyzer splits the word into 255-letter pieces that it does not stem, so it is indexed.
 */
describe('a 1 MB single-word document is indexed while the service stays responsive', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let worker: OutboxWorker;
  let app: FastifyInstance;
  let location: string;
  let key: string;
  const control = hookControl();
  const word = 'a'.repeat(1_000_000);

  before(async () => {
    testDb = await createTestDatabase('pool_responsive');
    await createProductsTable(testDb.db);
    runtime = await VectorsyncRuntime.open({
      // The budget is long: the test decides when the held build goes on, not the clock.
      config: productsConfig(testDb, { sync: { documentBudgetMs: 600_000, cpuThreads: 1 } }),
      db: testDb.connect({ applicationName: 'vectorsync-runtime' }),
      documentPool: {
        workerHooks: {
          module: documentWorkerHooksModule,
          data: { control: control.buffer, hold: ['monolith'] },
        },
      },
    });
    await setupCollections(runtime);
    location = runtime.activeTarget('products').record.location;
    worker = new OutboxWorker({ runtime });
    await worker.start();
    app = createServer({ runtime, logger: silentLogger });
    key = (await createApiKey(testDb.db, { name: 'acme-app', tenant: 'acme' })).key;
  });

  after(async () => {
    Atomics.store(control.cells, HookCell.released, 1);
    Atomics.notify(control.cells, HookCell.released);
    await app.close();
    await worker.stop();
    await runtime.close();
    await testDb.drop();
  });

  it('answers /healthz and searches while a worker thread is inside the document, then indexes it', async () => {
    await testDb.db.query(
      `INSERT INTO products (article_id, tenant_id, name, description, product_type, color)
       VALUES ('monolith', 'acme', 'Monolith', $1, 'Slab', 'Black')`,
      [word],
    );
    // The worker thread has started building this document and is held inside it.
    await waitFor(() => Atomics.load(control.cells, HookCell.entered) >= 1, {
      message: 'the document build to start in its worker thread',
    });

    // Were the build running on the event loop, nothing below could run until it finished.
    const health = await app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(health.statusCode, 200);
    const search = await app.inject({
      method: 'GET',
      url: `/v1/collections/products/search?q=${'b'.repeat(4096)}&k=5`,
      headers: { authorization: `Bearer ${key}` },
    });
    assert.equal(search.statusCode, 200, search.body);
    const event = await testDb.db.query<{ status: string }>(
      `SELECT status FROM vectorsync.outbox WHERE source_id = 'monolith'`,
    );
    assert.equal(event.rows[0]?.status, 'processing', 'the document is still being built');

    Atomics.store(control.cells, HookCell.released, 1);
    Atomics.notify(control.cells, HookCell.released);
    await waitFor(() => outboxDrained(testDb.db), {
      timeoutMs: 60_000,
      message: 'the document to be indexed',
    });

    const pieces = Math.ceil(word.length / DEFAULT_MAX_TOKEN_LENGTH);
    const indexed = await testDb.db.query<{ bm25_len: number }>(
      `SELECT bm25_len FROM vectorsync."${location}" WHERE id = 'monolith'`,
    );
    // name, product type and colour, then the word's pieces.
    assert.equal(indexed.rows[0]?.bm25_len, 3 + pieces);
    const terms = await testDb.db.query<{ length: number }>(
      `SELECT length(term) AS length FROM vectorsync."${location}_terms" WHERE term LIKE 'aaa%' ORDER BY 1`,
    );
    assert.deepEqual(
      terms.rows.map((row) => row.length),
      [word.length % DEFAULT_MAX_TOKEN_LENGTH, DEFAULT_MAX_TOKEN_LENGTH],
    );

    // A query is analysed the same way: a long run of the same letter finds the document.
    const found = await app.inject({
      method: 'GET',
      url: `/v1/collections/products/search?q=${'a'.repeat(1000)}&mode=keyword&k=5`,
      headers: { authorization: `Bearer ${key}` },
    });
    assert.equal(found.statusCode, 200, found.body);
    assert.deepEqual(
      (found.json() as { hits: Array<{ id: string }> }).hits.map((hit) => hit.id),
      ['monolith'],
    );
  });
});
