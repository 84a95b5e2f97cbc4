import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { silentLogger } from '../src/logger.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { createApiKey, revokeApiKey } from '../src/server/api-keys.js';
import { createServer } from '../src/server/create-server.js';
import { ServiceMetrics } from '../src/server/metrics.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import {
  createProductsTable,
  indexRows,
  openProductsRuntime,
  outboxCounts,
  outboxDrained,
  productsConfig,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

describe('HTTP API', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let worker: OutboxWorker;
  let app: FastifyInstance;
  let location: string;
  const keys = { acme: '', globex: '', admin: '', revoked: '' };

  before(async () => {
    testDb = await createTestDatabase('http_api');
    await createProductsTable(testDb.db);
    const config = productsConfig(testDb, { server: { bodyLimitBytes: 4096 } as never });
    runtime = await openProductsRuntime(testDb, { config });
    location = runtime.activeTarget('products').record.location;
    worker = new OutboxWorker({ runtime });
    const metrics = new ServiceMetrics(runtime);
    metrics.attachWorker(worker);
    await worker.start();
    app = createServer({ runtime, logger: silentLogger, metrics });
    keys.acme = (await createApiKey(testDb.db, { name: 'acme-app', tenant: 'acme' })).key;
    keys.globex = (await createApiKey(testDb.db, { name: 'globex-app', tenant: 'globex' })).key;
    keys.admin = (await createApiKey(testDb.db, { name: 'ops', admin: true })).key;
    const revoked = await createApiKey(testDb.db, { name: 'old', tenant: 'acme' });
    keys.revoked = revoked.key;
    await revokeApiKey(testDb.db, revoked.record.prefix);
  });

  after(async () => {
    await app.close();
    await worker.stop();
    await runtime.close();
    await testDb.drop();
  });

  const call = (
    method: string,
    url: string,
    key: string | undefined,
    payload?: unknown,
    headers: Record<string, string> = {},
  ) =>
    app.inject({
      method: method as 'GET',
      url,
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
      ...(payload === undefined
        ? {}
        : typeof payload === 'string'
          ? {
              payload,
              headers: {
                ...(key ? { authorization: `Bearer ${key}` } : {}),
                'content-type': 'application/json',
                ...headers,
              },
            }
          : { payload: payload as object }),
    });
  const search = async (key: string, q: string, k = 5) =>
    (await call('GET', `/v1/collections/products/search?q=${encodeURIComponent(q)}&k=${k}`, key)).json()
      .hits as Array<{ id: string }>;
  const errorOf = (response: LightMyRequestResponse) =>
    response.json().error as { code: string; message: string; details: Record<string, unknown> };
  const settle = () => waitFor(() => outboxDrained(testDb.db), { message: 'outbox to drain' });

  const poncho = {
    article_id: '0999000001',
    name: 'Neon rain poncho',
    description: 'A bright neon-yellow rain poncho',
    product_type: 'Jacket',
    color: 'Yellow',
    price: 19.99,
  };

  it('creates, reads, replaces, patches and deletes documents; search follows each change', async () => {
    const created = await call('POST', '/v1/collections/products/documents', keys.acme, poncho);
    assert.equal(created.statusCode, 201, created.body);
    assert.equal(created.headers.location, '/v1/collections/products/documents/0999000001');
    assert.equal(created.json().tenant_id, 'acme');
    assert.equal(created.json().price, 19.99);
    await settle();
    assert.equal((await search(keys.acme, 'neon rain poncho'))[0]?.id, poncho.article_id);

    const fetched = await call('GET', '/v1/collections/products/documents/0999000001', keys.acme);
    assert.equal(fetched.json().name, 'Neon rain poncho');

    const replaced = await call('PUT', '/v1/collections/products/documents/0999000001', keys.acme, {
      name: 'Velvet opera cape',
      price: 120,
    });
    assert.equal(replaced.statusCode, 200, replaced.body);
    assert.equal(replaced.json().description, null, 'a full update resets omitted fields');
    assert.equal(replaced.json().color, null);
    await settle();
    assert.equal((await search(keys.acme, 'velvet opera cape'))[0]?.id, poncho.article_id);

    const patched = await call('PATCH', '/v1/collections/products/documents/0999000001', keys.acme, {
      color: 'Crimson',
    });
    assert.equal(patched.json().name, 'Velvet opera cape', 'a partial update keeps other fields');
    assert.equal(patched.json().color, 'Crimson');
    assert.ok(patched.json().version > replaced.json().version, 'every write advances the version');
    await settle();
    assert.equal(
      (await indexRows(testDb.db, location)).get(poncho.article_id)?.version,
      patched.json().version,
    );

    const deleted = await call('DELETE', '/v1/collections/products/documents/0999000001', keys.acme);
    assert.equal(deleted.statusCode, 204);
    await settle();
    assert.ok(!(await indexRows(testDb.db, location)).has(poncho.article_id));
    assert.ok(
      !(await search(keys.acme, 'velvet opera cape', 50)).some((hit) => hit.id === poncho.article_id),
    );
    assert.equal(
      (await call('GET', '/v1/collections/products/documents/0999000001', keys.acme)).statusCode,
      404,
    );
  });

  it('keeps every endpoint inside the key’s tenant', async () => {
    const secret = { ...poncho, article_id: '0999000002', name: 'Acme secret prototype jacket' };
    assert.equal(
      (await call('POST', '/v1/collections/products/documents', keys.acme, secret)).statusCode,
      201,
    );
    await settle();
    const url = '/v1/collections/products/documents/0999000002';
    for (const [method, body] of [
      ['GET'],
      ['PUT', { name: 'hijacked' }],
      ['PATCH', { name: 'hijacked' }],
      ['DELETE'],
    ] as const) {
      const response = await call(method, url, keys.globex, body);
      assert.equal(response.statusCode, 404, `${method} by another tenant looks like a missing document`);
      assert.equal(errorOf(response).code, 'DOCUMENT_NOT_FOUND');
    }
    assert.equal(
      (await call('GET', url, keys.acme)).json().name,
      'Acme secret prototype jacket',
      'untouched',
    );
    assert.equal((await search(keys.globex, 'secret prototype jacket', 100)).length, 0);
    assert.equal((await search(keys.acme, 'secret prototype jacket'))[0]?.id, '0999000002');

    const smuggled = await call('POST', '/v1/collections/products/documents', keys.globex, {
      ...poncho,
      article_id: '0999000003',
      tenant_id: 'acme',
    });
    assert.equal(smuggled.statusCode, 403);
    assert.equal(errorOf(smuggled).code, 'TENANT_MISMATCH');

    const adminOnData = await call('GET', url, keys.admin);
    assert.equal(adminOnData.statusCode, 400);
    assert.equal(errorOf(adminOnData).code, 'TENANT_REQUIRED');
    assert.equal((await call('GET', '/v1/collections/products/search?q=jacket', keys.admin)).statusCode, 400);

    for (const path of ['/v1/sync/status', '/v1/sync/events', '/metrics']) {
      const response = await call('GET', path, keys.acme);
      assert.equal(response.statusCode, 403, path);
    }
    assert.equal((await call('POST', '/v1/sync/events/retry', keys.acme, {})).statusCode, 403);
  });

  it('rejects missing, malformed, unknown and revoked keys', async () => {
    const cases: Array<[string | undefined, Record<string, string>]> = [
      [undefined, {}],
      ['not-a-key', {}],
      ['vs_0000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', {}],
      [keys.revoked, {}],
    ];
    for (const [key, headers] of cases) {
      const response = await call('GET', '/v1/collections/products/search?q=jacket', key, undefined, headers);
      assert.equal(response.statusCode, 401, `key ${key}`);
      assert.equal(errorOf(response).code, 'UNAUTHENTICATED');
    }
    const viaHeader = await app.inject({
      method: 'GET',
      url: '/v1/collections',
      headers: { 'x-api-key': keys.acme },
    });
    assert.equal(viaHeader.statusCode, 200);
    assert.equal(
      (await app.inject({ method: 'GET', url: '/healthz' })).statusCode,
      200,
      'health needs no key',
    );
  });

  it('answers each kind of bad input with a 4xx naming the problem, and writes nothing', async () => {
    await settle();
    const sourceBefore = (await testDb.db.query<{ n: number }>('SELECT count(*)::int AS n FROM products'))
      .rows[0]!.n;
    const outboxBefore = await outboxCounts(testDb.db);
    const cases: Array<{
      name: string;
      method: string;
      url: string;
      body?: unknown;
      status: number;
      code: string;
      mentions?: string;
    }> = [
      {
        name: 'unknown collection',
        method: 'POST',
        url: '/v1/collections/produkts/documents',
        body: poncho,
        status: 404,
        code: 'UNKNOWN_COLLECTION',
        mentions: 'produkts',
      },
      {
        name: 'malformed JSON',
        method: 'POST',
        url: '/v1/collections/products/documents',
        body: '{"name": "x",',
        status: 400,
        code: 'MALFORMED_BODY',
      },
      {
        name: 'array body',
        method: 'POST',
        url: '/v1/collections/products/documents',
        body: [poncho],
        status: 400,
        code: 'MALFORMED_BODY',
      },
      {
        name: 'wrong type',
        method: 'POST',
        url: '/v1/collections/products/documents',
        body: { ...poncho, article_id: '0999000010', price: 'cheap' },
        status: 400,
        code: 'INVALID_FIELD_VALUE',
        mentions: 'price',
      },
      {
        name: 'wrong type (number for text)',
        method: 'POST',
        url: '/v1/collections/products/documents',
        body: { ...poncho, article_id: '0999000011', name: 42 },
        status: 400,
        code: 'INVALID_FIELD_VALUE',
        mentions: 'name',
      },
      {
        name: 'unknown field',
        method: 'POST',
        url: '/v1/collections/products/documents',
        body: { ...poncho, article_id: '0999000012', colour: 'red' },
        status: 400,
        code: 'UNKNOWN_FIELD',
        mentions: 'colour',
      },
      {
        name: 'missing required field',
        method: 'POST',
        url: '/v1/collections/products/documents',
        body: { article_id: '0999000013', price: 3 },
        status: 400,
        code: 'MISSING_FIELD',
        mentions: 'name',
      },
      {
        name: 'value too long for varchar(20)',
        method: 'POST',
        url: '/v1/collections/products/documents',
        body: { ...poncho, article_id: 'x'.repeat(25) },
        status: 400,
        code: 'INVALID_FIELD_VALUE',
        mentions: 'article_id',
      },
      {
        name: 'managed version field',
        method: 'POST',
        url: '/v1/collections/products/documents',
        body: { ...poncho, article_id: '0999000014', version: 99 },
        status: 400,
        code: 'INVALID_FIELD_VALUE',
        mentions: 'version',
      },
      {
        name: 'oversized payload',
        method: 'POST',
        url: '/v1/collections/products/documents',
        body: { ...poncho, article_id: '0999000015', description: 'x'.repeat(10_000) },
        status: 413,
        code: 'PAYLOAD_TOO_LARGE',
      },
      {
        name: 'duplicate id',
        method: 'POST',
        url: '/v1/collections/products/documents',
        body: { ...poncho, article_id: '0999000002' },
        status: 409,
        code: 'DOCUMENT_EXISTS',
      },
      {
        name: 'changing the primary key',
        method: 'PATCH',
        url: '/v1/collections/products/documents/0999000002',
        body: { article_id: '0999000099' },
        status: 400,
        code: 'INVALID_FIELD_VALUE',
        mentions: 'article_id',
      },
      {
        name: 'null in a NOT NULL field',
        method: 'PATCH',
        url: '/v1/collections/products/documents/0999000002',
        body: { name: null },
        status: 400,
        code: 'INVALID_FIELD_VALUE',
        mentions: 'name',
      },
      {
        name: 'update of a missing document',
        method: 'PATCH',
        url: '/v1/collections/products/documents/0000000000',
        body: { name: 'x' },
        status: 404,
        code: 'DOCUMENT_NOT_FOUND',
        mentions: '0000000000',
      },
      {
        name: 'search without q',
        method: 'GET',
        url: '/v1/collections/products/search',
        status: 400,
        code: 'INVALID_REQUEST',
        mentions: 'q',
      },
      {
        name: 'search with k=0',
        method: 'GET',
        url: '/v1/collections/products/search?q=x&k=0',
        status: 400,
        code: 'INVALID_REQUEST',
        mentions: 'k',
      },
      {
        name: 'search with k=abc',
        method: 'GET',
        url: '/v1/collections/products/search?q=x&k=abc',
        status: 400,
        code: 'INVALID_REQUEST',
        mentions: 'k',
      },
      {
        name: 'search in an unknown collection',
        method: 'GET',
        url: '/v1/collections/nope/search?q=x',
        status: 404,
        code: 'UNKNOWN_COLLECTION',
        mentions: 'nope',
      },
    ];
    for (const testCase of cases) {
      const response = await call(testCase.method, testCase.url, keys.acme, testCase.body);
      assert.equal(response.statusCode, testCase.status, `${testCase.name}: ${response.body}`);
      const error = errorOf(response);
      assert.equal(error.code, testCase.code, testCase.name);
      if (testCase.mentions)
        assert.ok(
          JSON.stringify(error).includes(testCase.mentions),
          `${testCase.name} names "${testCase.mentions}": ${error.message}`,
        );
    }
    const sourceAfter = (await testDb.db.query<{ n: number }>('SELECT count(*)::int AS n FROM products'))
      .rows[0]!.n;
    assert.equal(sourceAfter, sourceBefore, 'no source row written');
    assert.deepEqual(await outboxCounts(testDb.db), outboxBefore, 'no outbox event written');
  });

  it('serves sync status, failed events and retries to admin keys, validating their input', async () => {
    await settle();
    const status = await call('GET', '/v1/sync/status', keys.admin);
    assert.equal(status.statusCode, 200);
    const products = status.json().collections[0];
    assert.equal(products.collection, 'products');
    assert.equal(products.pending, 0);
    assert.ok(products.lag.samples > 0 && products.lag.p50Ms !== null);
    assert.equal(status.json().workers[0].alive, true);

    const listed = await call('GET', '/v1/sync/events?status=done&limit=2', keys.admin);
    assert.equal(listed.json().events.length, 2);
    assert.equal((await call('GET', '/v1/sync/events?status=exploded', keys.admin)).statusCode, 400);
    const missing = await call('POST', '/v1/sync/events/retry', keys.admin, { ids: ['987654321'] });
    assert.equal(missing.statusCode, 404);
    assert.equal(errorOf(missing).code, 'EVENT_NOT_FOUND');
    assert.equal((await call('POST', '/v1/sync/events/retry', keys.admin, { idz: [1] })).statusCode, 400);

    const metrics = await call('GET', '/metrics', keys.admin);
    assert.equal(metrics.statusCode, 200);
    assert.match(metrics.body, /vectorsync_sync_pending_events\{collection="products"\} 0/);
    assert.match(metrics.body, /vectorsync_sync_events_total\{collection="products",outcome="done"\} \d+/);
    assert.match(metrics.body, /vectorsync_sync_lag_seconds_count\{collection="products",work="live"\} \d+/);
  });
});
