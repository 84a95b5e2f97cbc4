import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createVectorsyncApi, type VectorsyncApi } from '../src/client.js';
import { silentLogger } from '../src/logger.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { createApiKey } from '../src/server/api-keys.js';
import { createServer } from '../src/server/create-server.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import {
  createProductsTable,
  openProductsRuntime,
  outboxDrained,
  productsConfig,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

/** The typed client generated from /openapi.json, against a real listener. */
describe('the typed API client (vectorsync/client createVectorsyncApi)', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let worker: OutboxWorker;
  let app: FastifyInstance;
  let acme: VectorsyncApi;
  let globex: VectorsyncApi;
  let admin: VectorsyncApi;
  let anonymous: VectorsyncApi;

  before(async () => {
    testDb = await createTestDatabase('http_api_client');
    await createProductsTable(testDb.db);
    runtime = await openProductsRuntime(testDb, { config: productsConfig(testDb) });
    worker = new OutboxWorker({ runtime });
    await worker.start();
    app = createServer({ runtime, logger: silentLogger });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const key = async (input: { name: string; tenant?: string; admin?: boolean }) =>
      (await createApiKey(testDb.db, input)).key;
    acme = createVectorsyncApi({ url, apiKey: await key({ name: 'acme', tenant: 'acme' }) });
    globex = createVectorsyncApi({ url, apiKey: await key({ name: 'globex', tenant: 'globex' }) });
    admin = createVectorsyncApi({ url, apiKey: await key({ name: 'ops', admin: true }) });
    anonymous = createVectorsyncApi({ url });
  });

  after(async () => {
    await app.close();
    await worker.stop();
    await runtime.close();
    await testDb.drop();
  });

  const products = { path: { collection: 'products' } };

  it('writes, reads and searches documents of its tenant only', async () => {
    const created = await acme.POST('/v1/collections/{collection}/documents', {
      params: products,
      body: { article_id: 'typed-1', name: 'Typed linen shirt', description: 'a shirt made of linen' },
    });
    assert.equal(created.response.status, 201, JSON.stringify(created.error));
    assert.equal(created.data?.tenant_id, 'acme');
    const read = await acme.GET('/v1/collections/{collection}/documents/{id}', {
      params: { path: { collection: 'products', id: 'typed-1' } },
    });
    assert.equal(read.data?.name, 'Typed linen shirt');
    const foreign = await globex.GET('/v1/collections/{collection}/documents/{id}', {
      params: { path: { collection: 'products', id: 'typed-1' } },
    });
    assert.equal(foreign.response.status, 404);
    assert.equal(foreign.error?.error.code, 'DOCUMENT_NOT_FOUND');

    await waitFor(() => outboxDrained(testDb.db), { message: 'the write to be indexed' });
    const viaGet = await acme.GET('/v1/collections/{collection}/search', {
      params: { ...products, query: { q: 'linen shirt', mode: 'keyword', k: '3' } },
    });
    assert.deepEqual(
      viaGet.data?.hits.map((hit) => hit.id),
      ['typed-1'],
    );
    const viaPost = await acme.POST('/v1/collections/{collection}/search', {
      params: products,
      body: { q: 'linen shirt', mode: 'keyword', k: 3, explain: true },
    });
    assert.deepEqual(
      viaPost.data?.hits.map((hit) => hit.id),
      ['typed-1'],
    );
    assert.ok(viaPost.data?.hits[0]?.explain?.signals.keyword);
    const elsewhere = await globex.POST('/v1/collections/{collection}/search', {
      params: products,
      body: { q: 'linen shirt', mode: 'keyword' },
    });
    assert.deepEqual(elsewhere.data?.hits, []);

    const deleted = await acme.DELETE('/v1/collections/{collection}/documents/{id}', {
      params: { path: { collection: 'products', id: 'typed-1' } },
    });
    assert.equal(deleted.response.status, 204);
  });

  it('gets every refusal as the typed error envelope', async () => {
    const unknownField = await acme.POST('/v1/collections/{collection}/search', {
      params: products,
      // A field the contract does not have: the compiler refuses it, and so does the service.
      body: { q: 'shirt', limit: 5 } as never,
    });
    assert.equal(unknownField.response.status, 400);
    assert.equal(unknownField.error?.error.code, 'UNKNOWN_FIELD');
    assert.deepEqual(unknownField.error?.error.details.fields, ['limit']);

    const wrongType = await acme.POST('/v1/collections/{collection}/search', {
      params: products,
      body: { q: 'shirt', k: [5] } as never,
    });
    assert.equal(wrongType.response.status, 400);
    assert.equal(wrongType.error?.error.code, 'INVALID_REQUEST');
    assert.match(wrongType.error?.error.message ?? '', /field "k" must be an integer \(got an array of 1\)/);

    const unauthenticated = await anonymous.GET('/v1/sync/status');
    assert.equal(unauthenticated.response.status, 401);
    assert.equal(unauthenticated.error?.error.code, 'UNAUTHENTICATED');
    const forbidden = await acme.GET('/v1/sync/status');
    assert.equal(forbidden.error?.error.code, 'FORBIDDEN');
  });

  it('reads the operational routes with an admin key', async () => {
    const status = await admin.GET('/v1/sync/status');
    assert.equal(status.response.status, 200);
    assert.ok(status.data?.collections.some((collection) => collection.collection === 'products'));
    const events = await admin.GET('/v1/sync/events', { params: { query: { limit: '5' } } });
    assert.equal(events.response.status, 200);
    assert.ok((events.data?.events.length ?? 0) <= 5);
    const health = await anonymous.GET('/healthz');
    assert.equal(health.data?.status, 'ok');
  });
});
