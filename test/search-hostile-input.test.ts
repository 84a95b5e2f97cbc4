import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { silentLogger } from '../src/logger.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { MAX_QUERY_CHARS } from '../src/search/search-service.js';
import { createApiKey } from '../src/server/api-keys.js';
import { createServer } from '../src/server/create-server.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import {
  createProductsTable,
  insertProducts,
  openProductsRuntime,
  outboxDrained,
  products,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown> };
}

/** Queries and filters an attacker controls: each costs little, or is refused with a clear 400. */
describe('search with hostile input', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let app: FastifyInstance;
  let key: string;

  before(async () => {
    testDb = await createTestDatabase('search_hostile');
    await createProductsTable(testDb.db);
    runtime = await openProductsRuntime(testDb);
    const worker = new OutboxWorker({ runtime });
    await worker.start();
    await insertProducts(testDb.db, 'acme', products(40, 61));
    await waitFor(() => outboxDrained(testDb.db), { message: 'the catalog to be indexed' });
    await worker.stop();
    app = createServer({ runtime, logger: silentLogger });
    key = (await createApiKey(testDb.db, { name: 'acme-app', tenant: 'acme' })).key;
  });

  after(async () => {
    await app.close();
    await runtime.close();
    await testDb.drop();
  });

  const post = (body: unknown) =>
    app.inject({
      method: 'POST',
      url: '/v1/collections/products/search',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      payload: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('answers a 4,096-letter query in every mode, analysing it into ceil(4096 / maxTokenLength) terms', async () => {
    const letters = 'abcdefghijklmnopqrstuvwxyz';
    const query = Array.from({ length: MAX_QUERY_CHARS }, (_, i) => letters[(i * 11) % 26]).join('');
    const { maxTokenLength } = runtime.collection('products').definition.config.analyzer;
    const terms = runtime.collection('products').analyzer.terms(query);
    assert.equal(terms.length, Math.ceil(MAX_QUERY_CHARS / maxTokenLength));
    assert.ok(terms.every((term) => term.length <= maxTokenLength));
    for (const mode of ['hybrid', 'keyword', 'semantic']) {
      const response = await post({ q: query, mode, k: 5 });
      assert.equal(response.statusCode, 200, response.body);
      assert.ok(Array.isArray((response.json() as { hits: unknown[] }).hits));
    }
    // Words of a real query still find what they name, whatever junk comes with them.
    const mixed = await post({ q: `dress ${'x'.repeat(4000)}`, mode: 'keyword', k: 5 });
    assert.equal(mixed.statusCode, 200, mixed.body);
  });

  it('refuses a 100 KB query with 400 INVALID_REQUEST naming the limit', async () => {
    const response = await post({ q: 'word '.repeat(20_000) });
    assert.equal(response.statusCode, 400);
    const { error } = response.json() as ErrorBody;
    assert.equal(error.code, 'INVALID_REQUEST');
    assert.match(error.message, new RegExp(`longer than ${MAX_QUERY_CHARS} characters`));
    assert.equal(error.details.limit, MAX_QUERY_CHARS);
  });

  it('refuses a filter nested 400,000 levels deep with 400 INVALID_FILTER, not a stack overflow', async () => {
    const depth = 400_000;
    const body = `{"q":"dress","filter":${'{"not":'.repeat(depth / 10)}{"color":"Black"}${'}'.repeat(depth / 10)}}`;
    const objects = await post(body);
    assert.equal(objects.statusCode, 400, objects.body);
    assert.equal((objects.json() as ErrorBody).error.code, 'INVALID_FILTER');
    assert.match((objects.json() as ErrorBody).error.message, /nested deeper than 12 levels/);

    const arrays = await post(`{"q":"dress","filter":{"and":${'['.repeat(depth)}${']'.repeat(depth)}}}`);
    assert.equal(arrays.statusCode, 400, arrays.body);
    assert.equal((arrays.json() as ErrorBody).error.code, 'INVALID_FILTER');
  });

  it('refuses a filter of 50,000 conditions with 400 INVALID_FILTER naming the limit', async () => {
    const response = await post({
      q: 'dress',
      filter: { or: Array.from({ length: 50_000 }, (_, i) => ({ color: `c${i}` })) },
    });
    assert.equal(response.statusCode, 400, response.body);
    const { error } = response.json() as ErrorBody;
    assert.equal(error.code, 'INVALID_FILTER');
    assert.match(error.message, /more than 200 conditions/);
  });
});
