import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { parseConfig } from '../src/config/resolve-config.js';
import { demoConfig } from '../src/demo/demo-schema.js';
import { silentLogger } from '../src/logger.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { createApiKey } from '../src/server/api-keys.js';
import { createServer } from '../src/server/create-server.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import {
  createProductsTable,
  fastSync,
  insertProducts,
  openProductsRuntime,
  outboxDrained,
  products,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

describe('search API: modes, explain, pagination, aliases', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let worker: OutboxWorker;
  let app: FastifyInstance;
  let key: string;
  let otherKey: string;

  before(async () => {
    testDb = await createTestDatabase('search_api');
    await createProductsTable(testDb.db);
    const config = parseConfig({
      ...demoConfig({ dimensions: 64 }),
      databaseUrl: testDb.url,
      sync: fastSync,
      server: { aliasCollection: 'products' },
    });
    runtime = await openProductsRuntime(testDb, { config });
    worker = new OutboxWorker({ runtime });
    await worker.start();
    app = createServer({ runtime, logger: silentLogger });
    key = (await createApiKey(testDb.db, { name: 'acme', tenant: 'acme' })).key;
    otherKey = (await createApiKey(testDb.db, { name: 'globex', tenant: 'globex' })).key;
    await insertProducts(testDb.db, 'acme', products(150, 111));
    await insertProducts(testDb.db, 'globex', products(50, 112));
    await waitFor(() => outboxDrained(testDb.db));
  });
  after(async () => {
    await app.close();
    await worker.stop();
    await runtime.close();
    await testDb.drop();
  });

  const get = async (url: string, apiKey = key) => {
    const response = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${apiKey}` } });
    return { status: response.statusCode, body: response.json() as any };
  };

  it('serves every mode on one endpoint, hybrid by default, with explain', async () => {
    for (const mode of ['semantic', 'keyword', 'hybrid']) {
      const { status, body } = await get(
        `/v1/collections/products/search?q=warm+winter+jacket&mode=${mode}&k=5&explain=true`,
      );
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.mode, mode);
      assert.equal(body.hits.length, 5);
      for (const [index, hit] of body.hits.entries()) {
        if (mode === 'hybrid') {
          assert.equal(hit.explain.fusion, 'weighted(minmax)');
          const ranks = Object.values(hit.explain.signals).filter(Boolean) as Array<{ rank: number }>;
          assert.ok(ranks.length >= 1);
        } else assert.deepEqual(hit.explain.signals[mode], { rank: index + 1, score: hit.score });
      }
    }
    const { body } = await get('/v1/collections/products/search?q=warm+winter+jacket&k=3');
    assert.equal(body.mode, 'hybrid');
    assert.equal(body.hits[0].explain, undefined, 'explain only when asked');
  });

  it('fuses by weighted scores when asked, and respects per-signal weights', async () => {
    const weighted = await get(
      '/v1/collections/products/search?q=linen+shirt&k=5&fusion=weighted&normalization=zscore&explain=true',
    );
    assert.equal(weighted.body.hits[0].explain.fusion, 'weighted(zscore)');
    const keywordOnly = await get(
      '/v1/collections/products/search?q=linen+shirt&k=5&w_semantic=0&w_keyword=1',
    );
    const keyword = await get('/v1/collections/products/search?q=linen+shirt&k=5&mode=keyword');
    assert.deepEqual(
      keywordOnly.body.hits.map((h: any) => h.id),
      keyword.body.hits.map((h: any) => h.id),
    );
  });

  it('paginates with a cursor (and with offset) without gaps or repeats', async () => {
    for (const mode of ['keyword', 'hybrid', 'semantic']) {
      const all = await get(`/v1/collections/products/search?q=jacket+shirt+dress&mode=${mode}&k=30`);
      const pages: string[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 3; page++) {
        const { body } = await get(
          `/v1/collections/products/search?q=jacket+shirt+dress&mode=${mode}&k=10${cursor ? `&cursor=${cursor}` : ''}`,
        );
        pages.push(...body.hits.map((h: any) => h.id));
        cursor = body.next;
      }
      assert.deepEqual(
        pages,
        all.body.hits.map((h: any) => h.id),
        mode,
      );
      const offset = await get(
        `/v1/collections/products/search?q=jacket+shirt+dress&mode=${mode}&k=10&offset=20`,
      );
      assert.deepEqual(
        offset.body.hits.map((h: any) => h.id),
        pages.slice(20),
        `${mode} offset`,
      );
    }
  });

  it('accepts POST bodies and filters, and the seed-style aliases for the products collection', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/collections/products/search',
      headers: { authorization: `Bearer ${key}` },
      payload: { q: 'jacket', mode: 'keyword', k: 50, filter: { color: { in: ['Black', 'Grey'] } } },
    });
    assert.equal(response.statusCode, 200, response.body);
    assert.ok(response.json().hits.every((hit: any) => ['Black', 'Grey'].includes(hit.payload.color)));
    for (const [path, mode] of [
      ['/search', 'hybrid'],
      ['/search/semantic', 'semantic'],
      ['/search/keyword', 'keyword'],
    ]) {
      const { status, body } = await get(`${path}?q=jacket&k=3`);
      assert.equal(status, 200);
      assert.equal(body.mode, mode);
      assert.equal(body.collection, 'products');
    }
    const other = await get('/search?q=jacket&k=50', otherKey);
    const acmeIds = new Set(products(150, 111).map((p) => p.article_id));
    assert.ok(other.body.hits.length > 0 && other.body.hits.every((h: any) => !acmeIds.has(h.id)));
  });

  it('rejects bad parameters with a 400 naming them', async () => {
    const cases: Array<[string, RegExp]> = [
      ['mode=fuzzy', /"mode"/],
      ['fusion=max', /"fusion"/],
      ['normalization=l2', /"normalization"/],
      ['offset=-1', /"offset"/],
      ['offset=995&k=10', /"offset"/],
      ['cursor=garbage', /"cursor"/],
      ['offset=0&cursor=eyJvZmZzZXQiOjEwfQ', /offset.*cursor/],
      ['w_semantic=-1', /"w_semantic"/],
      ['explain=maybe', /"explain"/],
      ['filter=%7B%22colour%22%3A1%7D', /unknown field "colour"/],
    ];
    for (const [query, message] of cases) {
      const { status, body } = await get(`/v1/collections/products/search?q=jacket&${query}`);
      assert.equal(status, 400, query);
      assert.match(body.error.message, message, query);
    }
    const post = await app.inject({
      method: 'POST',
      url: '/v1/collections/products/search',
      headers: { authorization: `Bearer ${key}` },
      payload: { q: 'x', top_k: 3 },
    });
    assert.equal(post.json().error.code, 'UNKNOWN_FIELD');
  });
});
