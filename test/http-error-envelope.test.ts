import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify, {
  type FastifyInstance,
  type FastifyServerOptions,
  type LightMyRequestResponse,
} from 'fastify';
import { ErrorCode, VectorsyncError } from '../src/errors.js';
import { vectorsyncFrameworkErrors, vectorsyncPlugin } from '../src/fastify.js';
import { openVectorsync } from '../src/library/open-vectorsync.js';
import type { Vectorsync } from '../src/library/vectorsync-api.js';
import { silentLogger } from '../src/logger.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { createApiKey } from '../src/server/api-keys.js';
import { createServer } from '../src/server/create-server.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import { createGadgetsTable, gadgetsConfig } from './helpers/gadgets-fixture.js';
import { outboxDrained } from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown>; requestId: string };
}

/** What Postgres or node-postgres would say; none of it may reach a client. */
const databaseText =
  /sqlstate|invalid input syntax|out of range for|Unicode escape|byte sequence|syntax for type|value overflows|displacement/i;

function assertEnvelope(
  response: LightMyRequestResponse,
  status: number,
  code: string,
  context = '',
): ErrorBody {
  const where = `${context} ${response.statusCode} ${response.body}`;
  assert.equal(response.statusCode, status, where);
  const body = response.json() as ErrorBody;
  assert.equal(body.error?.code, code, where);
  assert.equal(typeof body.error.message, 'string', where);
  assert.equal(typeof body.error.details, 'object', where);
  assert.equal(typeof body.error.requestId, 'string', where);
  assert.doesNotMatch(response.body, databaseText, `no database text: ${where}`);
  return body;
}

describe('HTTP: every error in the envelope, 4xx when the client is at fault', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let app: FastifyInstance;
  const keys = { tenant: '', admin: '' };

  before(async () => {
    testDb = await createTestDatabase('http_envelope');
    await createGadgetsTable(testDb.db);
    const config = gadgetsConfig(testDb.url);
    // A 100,000-deep filter by GET is a URL far above the default limit (414): raised here so
    // that the GET form reaches the filter's depth check.
    config.server.maxUrlLength = 4_000_000;
    runtime = await VectorsyncRuntime.open({ config, db: testDb.connect() });
    await setupCollections(runtime);
    app = createServer({ runtime, logger: silentLogger });
    keys.tenant = (await createApiKey(testDb.db, { name: 'shop', tenant: 'acme' })).key;
    keys.admin = (await createApiKey(testDb.db, { name: 'ops', admin: true })).key;
    await testDb.db.query(
      `INSERT INTO gadgets (id, tenant_id, name, made_at, qty) VALUES ('g1', 'acme', 'lamp', '2024-03-01T10:00:00Z', 3)`,
    );
    const worker = new OutboxWorker({ runtime });
    await worker.start();
    await waitFor(() => outboxDrained(testDb.db), { message: 'g1 to be indexed' });
    await worker.stop();
  });

  after(async () => {
    await app.close();
    await runtime.close();
    await testDb.drop();
  });

  const call = (method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, key?: string, payload?: unknown) =>
    app.inject({
      method,
      url,
      headers: key ? { authorization: `Bearer ${key}` } : {},
      ...(payload === undefined
        ? {}
        : typeof payload === 'string'
          ? { payload, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } }
          : { payload: payload as object }),
    });

  /** The same filter by GET (JSON text) and by POST (parsed body), in a mode that runs SQL. */
  const searchBoth = async (filter: unknown) => {
    const text = JSON.stringify(filter);
    return [
      await call(
        'GET',
        `/v1/collections/gadgets/search?q=lamp&mode=semantic&filter=${encodeURIComponent(text)}`,
        keys.tenant,
      ),
      await call('POST', '/v1/collections/gadgets/search', keys.tenant, {
        q: 'lamp',
        mode: 'semantic',
        filter,
      }),
    ];
  };

  describe('filter values are checked against the field’s column type', () => {
    const refused: Array<{ field: string; filter: unknown }> = [
      { field: 'made_at', filter: { made_at: '1' } },
      { field: 'made_at', filter: { made_at: '2020-02-30T00:00:00Z' } },
      { field: 'made_at', filter: { made_at: '+275760-09-13T00:00:00Z' } },
      { field: 'made_at', filter: { made_at: { gt: '2021-13-01' } } },
      { field: 'made_at', filter: { made_at: { lt: '2021-01-01T10:00:00+16:00' } } },
      { field: 'born', filter: { born: { lt: '2019-02-29' } } },
      { field: 'local_at', filter: { local_at: { gte: '2020-01-01T24:00:00' } } },
      { field: 'name', filter: { name: 'a\u0000b' } },
      { field: 'name', filter: { name: '\ud800' } },
      { field: 'name', filter: { name: { in: ['ok', '\udc00x'] } } },
      { field: 'tags', filter: { tags: '\u0000' } },
      { field: 'tags', filter: { tags: { in: ['a\u0000'] } } },
      { field: 'qty', filter: { qty: 2147483648 } },
      { field: 'qty', filter: { qty: { gt: 1e308 } } },
      { field: 'small', filter: { small: { lt: 40000 } } },
      { field: 'big', filter: { big: 2 ** 60 } },
      { field: 'counts', filter: { counts: { in: [1e300] } } },
      { field: 'ratio', filter: { ratio: { gt: 1e300 } } },
      { field: 'active', filter: { active: 'true' } },
      { field: 'name', filter: { name: [[[[1]]]] } },
    ];
    for (const { field, filter } of refused) {
      it(`400 INVALID_FILTER naming the field: ${JSON.stringify(filter)}`, async () => {
        for (const response of await searchBoth(filter)) {
          const { error } = assertEnvelope(response, 400, 'INVALID_FILTER', JSON.stringify(filter));
          assert.equal(error.details.field, field, response.body);
          assert.match(error.message, new RegExp(`"${field}"`), response.body);
          assert.equal(typeof error.details.value, 'string', response.body);
        }
      });
    }

    it('still accepts every valid value of those types', async () => {
      const valid: unknown[] = [
        { made_at: { gt: '2024-01-01T00:00:00Z', lt: '2030-01-01 10:00:00+05:30' } },
        { made_at: '2024-03-01T10:00:00.000Z' },
        { born: '2020-02-29' },
        { local_at: { lte: '2020-01-01T23:59:59.999999' } },
        { qty: { gte: -2147483648, lte: 2147483647 } },
        { small: { in: [-32768, 32767] } },
        { big: Number.MAX_SAFE_INTEGER },
        { ratio: { gt: 3.4e38 } },
        { price: { gt: 1e300 } },
        { name: 'héllo 😀' },
        { tags: { in: ['a', 'b'] } },
        { active: false },
        { attrs: { exists: true } },
      ];
      for (const filter of valid) {
        for (const response of await searchBoth(filter))
          assert.equal(response.statusCode, 200, `${JSON.stringify(filter)}: ${response.body}`);
      }
      const [found] = await searchBoth({ made_at: { gte: '2024-03-01' }, qty: 3 });
      assert.ok(
        found!.json().hits.some((hit: { id: string }) => hit.id === 'g1'),
        found!.body,
      );
    });

    it('a filter nested 100,000 deep is a 400 by GET and by POST, in the filter tree and in a value', async () => {
      const depth = 100_000;
      const tree = `${'{"not":'.repeat(depth)}{"name":"a"}${'}'.repeat(depth)}`;
      const value = `{"name":${'['.repeat(depth)}${']'.repeat(depth)}}`;
      const operand = `{"name":{"eq":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
      for (const filter of [tree, value, operand]) {
        const get = await call(
          'GET',
          `/v1/collections/gadgets/search?q=lamp&filter=${encodeURIComponent(filter)}`,
          keys.tenant,
        );
        assertEnvelope(get, 400, 'INVALID_FILTER', 'GET');
        const post = await call(
          'POST',
          '/v1/collections/gadgets/search',
          keys.tenant,
          `{"q":"lamp","filter":${filter}}`,
        );
        assertEnvelope(post, 400, 'INVALID_FILTER', 'POST');
      }
    });
  });

  describe('hybrid weights and rrf_k are plain decimal numbers within bounds', () => {
    const refused = [
      ['w_semantic', 'w_semantic='],
      ['w_semantic', 'w_semantic=0x10'],
      ['w_semantic', 'w_semantic=1e308&w_keyword=1e308'],
      ['w_keyword', 'w_keyword=-1'],
      ['w_keyword', 'w_keyword=Infinity'],
      ['w_keyword', 'w_keyword=%201'],
      ['w_semantic', 'w_semantic=1000001'],
      ['rrf_k', 'rrf_k=10000000'],
      ['rrf_k', 'rrf_k=0x10'],
      ['k', 'k=99999999999999999999'],
    ] as const;
    for (const [name, query] of refused) {
      it(`400 INVALID_REQUEST naming "${name}": ${query}`, async () => {
        const response = await call(
          'GET',
          `/v1/collections/gadgets/search?q=lamp&fusion=weighted&${query}`,
          keys.tenant,
        );
        const { error } = assertEnvelope(response, 400, 'INVALID_REQUEST', query);
        assert.equal(error.details.field, name, response.body);
        assert.match(error.message, new RegExp(`"${name}"`));
      });
    }

    it('accepts decimal weights up to 1e6 and gives finite scores', async () => {
      for (const query of [
        'w_semantic=0.5&w_keyword=2',
        'w_semantic=1000000&w_keyword=1e6',
        'rrf_k=1000000',
      ]) {
        const response = await call(
          'GET',
          `/v1/collections/gadgets/search?q=lamp&${query.startsWith('rrf') ? 'fusion=rrf' : 'fusion=weighted'}&${query}`,
          keys.tenant,
        );
        assert.equal(response.statusCode, 200, `${query}: ${response.body}`);
        for (const hit of response.json().hits as Array<{ score: unknown }>)
          assert.ok(Number.isFinite(hit.score), `${query}: ${response.body}`);
      }
      const post = await call('POST', '/v1/collections/gadgets/search', keys.tenant, {
        q: 'lamp',
        fusion: 'weighted',
        w_semantic: 0.0000001,
        w_keyword: 3,
      });
      assert.equal(post.statusCode, 200, post.body);
    });
  });

  describe('bigint ids are decimal strings within int8, kept exact', () => {
    it('before= beyond int8 is a 400 on /v1/sync/events and /v1/indexes/:c/history', async () => {
      for (const path of ['/v1/sync/events', '/v1/indexes/gadgets/history']) {
        for (const before of ['99999999999999999999', '9223372036854775808', '1.5', '-1', '']) {
          const response = await call('GET', `${path}?before=${before}`, keys.admin);
          const { error } = assertEnvelope(response, 400, 'INVALID_REQUEST', `${path} ${before}`);
          assert.match(error.message, /"before"/);
        }
        const largest = await call('GET', `${path}?before=9223372036854775807`, keys.admin);
        assert.equal(largest.statusCode, 200, largest.body);
      }
    });

    it('history keeps a before= beyond 2^53 exact (Number() would round it down)', async () => {
      await testDb.db.query(
        `INSERT INTO vectorsync.index_operations (id, collection, kind, method, requested_by, owner, state)
         VALUES (9007199254740992, 'gadgets', 'build', 'hnsw', 'test', 'test', 'succeeded')`,
      );
      try {
        const response = await call('GET', '/v1/indexes/gadgets/history?before=9007199254740993', keys.admin);
        assert.equal(response.statusCode, 200, response.body);
        assert.equal(response.json().operations.length, 1, response.body);
      } finally {
        await testDb.db.query('DELETE FROM vectorsync.index_operations WHERE id = 9007199254740992');
      }
    });

    it('retry ids: beyond int8, fractions and unsafe numbers are a 400; a large valid id stays exact', async () => {
      for (const ids of [['99999999999999999999'], [1e20], [1.5], [2 ** 60], ['12a'], [null]]) {
        const response = await call('POST', '/v1/sync/events/retry', keys.admin, { ids });
        const { error } = assertEnvelope(response, 400, 'INVALID_FIELD_VALUE', JSON.stringify(ids));
        assert.match(error.message, /"ids"/, response.body);
      }
      const missing = await call('POST', '/v1/sync/events/retry', keys.admin, {
        ids: ['9007199254740993', 7],
      });
      const { error } = assertEnvelope(missing, 404, 'EVENT_NOT_FOUND');
      assert.deepEqual(error.details.ids, ['9007199254740993', '7']);
    });
  });

  describe('document values are checked against each column type', () => {
    const refused: Array<{ field: string; value: unknown }> = [
      { field: 'tags', value: { a: 1 } },
      { field: 'tags', value: [{ a: 1 }] },
      { field: 'tags', value: [['a'], ['b']] },
      { field: 'tags', value: ['a\u0000'] },
      { field: 'counts', value: ['x'] },
      { field: 'counts', value: [2147483648] },
      { field: 'counts', value: [[1, 2]] },
      { field: 'name', value: 'a\u0000b' },
      { field: 'name', value: '\ud800' },
      { field: 'code', value: 'x'.repeat(9) },
      { field: 'small', value: 40000 },
      { field: 'qty', value: 1.5 },
      { field: 'big', value: '9223372036854775808' },
      { field: 'big', value: 2 ** 60 },
      { field: 'price', value: 10000 },
      { field: 'price', value: 9999.996 },
      { field: 'ratio', value: 1e300 },
      { field: 'ratio', value: 1e-60 },
      { field: 'score', value: '1e400' },
      { field: 'active', value: 'yes' },
      { field: 'made_at', value: '2020-02-30T00:00:00Z' },
      { field: 'made_at', value: '1' },
      { field: 'born', value: '+275760-09-13' },
      { field: 'local_at', value: 1_700_000_000 },
      { field: 'attrs', value: { note: 'a\u0000' } },
      { field: 'attrs', value: { '\ud800': 1 } },
      { field: 'raw', value: ['\udfff'] },
    ];
    for (const { field, value } of refused) {
      it(`400 INVALID_FIELD_VALUE naming "${field}" on create, replace and patch: ${JSON.stringify(value).slice(0, 40)}`, async () => {
        const requests = [
          call('POST', '/v1/collections/gadgets/documents', keys.tenant, {
            id: 'new',
            name: 'n',
            [field]: value,
          }),
          call('PUT', '/v1/collections/gadgets/documents/g1', keys.tenant, { name: 'lamp', [field]: value }),
          call('PATCH', '/v1/collections/gadgets/documents/g1', keys.tenant, { [field]: value }),
        ];
        for (const response of await Promise.all(requests)) {
          const { error } = assertEnvelope(response, 400, 'INVALID_FIELD_VALUE', `${field}`);
          assert.match(error.message, new RegExp(`"${field}"`), response.body);
        }
      });
    }

    it('stores valid values of each type as given', async () => {
      const body = {
        id: 'g2',
        name: 'héllo 😀',
        code: 'ABCDEFGH',
        made_at: '2024-02-29T23:59:59.5+01:00',
        local_at: '2024-01-01 08:00:00',
        born: '2000-02-29',
        small: -32768,
        qty: 2147483647,
        big: '9223372036854775807',
        price: 9999.99,
        ratio: 3.4e38,
        score: 1e308,
        active: true,
        tags: ['a', null, 'c'],
        counts: [1, -2147483648],
        attrs: { deep: [{ x: 'y' }], n: 1 },
        raw: { note: 'a\u0000' },
      };
      const created = await call('POST', '/v1/collections/gadgets/documents', keys.tenant, body);
      assert.equal(created.statusCode, 201, created.body);
      const stored = created.json();
      assert.deepEqual(stored.tags, ['a', null, 'c']);
      assert.equal(stored.big, '9223372036854775807');
      assert.deepEqual(stored.attrs, body.attrs);
    });
  });

  describe('requests the router refuses', () => {
    it('a URL whose %-escapes do not decode is a 400 in the envelope', async () => {
      const response = await call('GET', '/v1/collections/%ff/search?q=x', keys.tenant);
      const { error } = assertEnvelope(response, 400, 'INVALID_REQUEST');
      assert.match(error.message, /%ff/);
    });
  });

  describe('/healthz and /readyz need no key however the path is written', () => {
    it('trailing slash and query string', async () => {
      for (const url of [
        '/healthz',
        '/healthz/',
        '/healthz?probe=1',
        '/healthz/?probe=1',
        '/readyz/',
        '/readyz?x',
      ]) {
        const response = await call('GET', url);
        assert.equal(response.statusCode, 200, `${url}: ${response.body}`);
      }
      // Other paths still need one.
      assertEnvelope(await call('GET', '/v1/collections/'), 401, 'UNAUTHENTICATED');
      assertEnvelope(await call('GET', '/v1/collections?/healthz'), 401, 'UNAUTHENTICATED');
    });
  });

  describe('/readyz shows failure details to admin keys only', () => {
    const detail = 'qdrant store error: Forbidden at http://10.0.0.7:6333 (user "svc-vectors")';
    let restore: () => void;

    before(() => {
      // A store check that fails as a misconfigured Qdrant does: its text names a host and a user.
      const store = runtime.collection('gadgets').store;
      const ping = store.ping.bind(store);
      store.ping = async () => {
        throw new VectorsyncError(ErrorCode.StoreFailed, detail, {
          cause: new Error('HTTP 403 from 10.0.0.7'),
        });
      };
      restore = () => {
        store.ping = ping;
      };
    });
    after(() => restore());

    it('without a key (or with a tenant key): the code and a fixed sentence', async () => {
      for (const key of [undefined, keys.tenant, 'vs_0000000000_00000000000000000000000000000000']) {
        const response = await call('GET', '/readyz', key);
        assert.equal(response.statusCode, 503, response.body);
        const check = response.json().checks['store:0:pgvector'];
        assert.equal(check.ok, false);
        assert.equal(check.code, 'STORE_FAILED');
        assert.equal(check.error, 'the check failed');
        assert.equal(check.detail, undefined);
        assert.doesNotMatch(response.body, /10\.0\.0\.7|svc-vectors|6333/, response.body);
      }
    });

    it('with an admin key: the underlying messages as well', async () => {
      const response = await call('GET', '/readyz', keys.admin);
      assert.equal(response.statusCode, 503, response.body);
      const check = response.json().checks['store:0:pgvector'];
      assert.equal(check.code, 'STORE_FAILED');
      assert.match(check.detail, /10\.0\.0\.7:6333/);
      assert.match(check.detail, /HTTP 403/);
    });
  });
});

describe('HTTP as a plugin in an application’s Fastify', () => {
  let testDb: TestDatabase;
  let vectorsync: Vectorsync;
  let key = '';

  before(async () => {
    testDb = await createTestDatabase('http_envelope_plugin');
    await createGadgetsTable(testDb.db);
    vectorsync = await openVectorsync(gadgetsConfig(testDb.url), { env: {} });
    await vectorsync.setup();
    key = (await vectorsync.apiKeys.create({ name: 'shop', tenant: 'acme' })).key;
  });

  after(async () => {
    await vectorsync.close();
    await testDb.drop();
  });

  async function mounted(options: FastifyServerOptions = {}): Promise<FastifyInstance> {
    const app = Fastify(options);
    app.get('/mine', async () => ({ mine: true }));
    await app.register(vectorsyncPlugin, { vectorsync, prefix: '/vs' });
    return app;
  }

  it('health under the prefix needs no key, with a query string or as the app’s router normalises it', async () => {
    const plain = await mounted();
    const lenient = await mounted({
      routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true },
    });
    try {
      for (const url of ['/vs/healthz', '/vs/healthz?probe=1', '/vs/readyz?x']) {
        assert.equal((await plain.inject({ url })).statusCode, 200, url);
      }
      for (const url of ['/vs/healthz/', '/vs//healthz', '/vs/readyz/?x']) {
        const response = await lenient.inject({ url });
        assert.equal(response.statusCode, 200, `${url}: ${response.body}`);
      }
    } finally {
      await plain.close();
      await lenient.close();
    }
  });

  it('an unknown path under the prefix is a 404 in the envelope; the app’s own 404s stay its own', async () => {
    const app = await mounted();
    try {
      const ours = await app.inject({ url: '/vs/v1/nothing', headers: { authorization: `Bearer ${key}` } });
      assertEnvelope(ours, 404, 'NOT_FOUND');
      const theirs = await app.inject({ url: '/elsewhere' });
      assert.equal(theirs.statusCode, 404);
      assert.equal(theirs.json().error, 'Not Found', theirs.body);
      assert.equal((await app.inject({ url: '/mine' })).statusCode, 200);
    } finally {
      await app.close();
    }
  });

  it('with frameworkErrors: vectorsyncFrameworkErrors, a bad URL gets the envelope too', async () => {
    const app = await mounted({ frameworkErrors: vectorsyncFrameworkErrors });
    try {
      const response = await app.inject({ url: '/vs/v1/collections/%ff/search?q=x' });
      assertEnvelope(response, 400, 'INVALID_REQUEST');
    } finally {
      await app.close();
    }
  });
});
