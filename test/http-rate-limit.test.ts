import assert from 'node:assert/strict';
import { after, before, describe, it, mock } from 'node:test';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { demoConfig } from '../src/demo/demo-schema.js';
import { vectorsyncPlugin } from '../src/fastify.js';
import { openVectorsync } from '../src/index.js';
import { silentLogger } from '../src/logger.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { createApiKey } from '../src/server/api-keys.js';
import { createServer } from '../src/server/create-server.js';
import { createProductsTable, openProductsRuntime, productsConfig } from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';

const max = 3;
const windowMs = 60_000;

function assertRateLimited(response: LightMyRequestResponse, what: string): void {
  assert.equal(response.statusCode, 429, `${what}: ${response.body}`);
  const error = response.json().error;
  assert.equal(error.code, 'RATE_LIMITED');
  assert.equal(typeof error.requestId, 'string');
  assert.deepEqual(error.details, {
    limit: max,
    windowMs,
    retryAfterSeconds: Number(response.headers['retry-after']),
  });
  const retryAfter = Number(response.headers['retry-after']);
  assert.ok(
    retryAfter > 0 && retryAfter <= windowMs / 1000,
    `Retry-After ${response.headers['retry-after']}`,
  );
}

describe('per-key rate limiting (server.rateLimit)', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let app: FastifyInstance;
  const keys = { acme: '', globex: '' };

  before(async () => {
    testDb = await createTestDatabase('http_rate_limit');
    await createProductsTable(testDb.db);
    runtime = await openProductsRuntime(testDb, {
      config: productsConfig(testDb, { server: { rateLimit: { max, windowMs } } as never }),
    });
    app = createServer({ runtime, logger: silentLogger });
    keys.acme = (await createApiKey(testDb.db, { name: 'acme-app', tenant: 'acme' })).key;
    keys.globex = (await createApiKey(testDb.db, { name: 'globex-app', tenant: 'globex' })).key;
  });

  after(async () => {
    mock.timers.reset();
    await app.close();
    await runtime.close();
    await testDb.drop();
  });

  const get = (url: string, key?: string) =>
    app.inject({ method: 'GET', url, headers: key ? { authorization: `Bearer ${key}` } : {} });

  it('answers a key over its limit with 429 RATE_LIMITED and Retry-After, other keys unaffected, until the window ends', async () => {
    // @fastify/rate-limit counts windows with Date.now(): a mocked Date ends the window without waiting.
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    try {
      for (let n = 1; n <= max; n++) {
        const response = await get('/v1/collections', keys.acme);
        assert.equal(response.statusCode, 200, response.body);
        assert.equal(response.headers['x-ratelimit-remaining'], String(max - n));
      }
      const limited = await get('/v1/collections', keys.acme);
      assertRateLimited(limited, 'the fourth request of the window');
      assert.match(limited.json().error.message, /API key "acme-app" sent more than 3 requests in 60000 ms/);
      assert.equal(
        (await get('/v1/collections', keys.globex)).statusCode,
        200,
        'another key has its own count',
      );

      mock.timers.tick(windowMs - 1_000);
      assertRateLimited(await get('/v1/collections', keys.acme), 'within the window');
      mock.timers.tick(1_001);
      assert.equal((await get('/v1/collections', keys.acme)).statusCode, 200, 'a new window');
    } finally {
      mock.timers.reset();
    }
  });

  it('counts requests without a valid key per client address, apart from the keys’ counts', async () => {
    const bad = `vs_0000000000_${'C'.repeat(32)}`;
    for (let n = 1; n <= max; n++) assert.equal((await get('/v1/collections', bad)).statusCode, 401);
    assertRateLimited(await get('/v1/collections', bad), 'a bad key over the address limit');
    assertRateLimited(await get('/v1/collections'), 'no key, same address');
    assert.equal(
      (await get('/v1/collections', keys.globex)).statusCode,
      200,
      'a valid key from that address',
    );
  });

  it('never limits /healthz and /readyz', async () => {
    for (let n = 0; n < max * 3; n++) {
      const health = await get('/healthz');
      assert.equal(health.statusCode, 200);
      assert.equal(health.headers['x-ratelimit-limit'], undefined);
      assert.equal((await get('/readyz')).statusCode, 200);
    }
  });
});

describe('rate limiting in the Fastify plugin', () => {
  let testDb: TestDatabase;

  before(async () => {
    testDb = await createTestDatabase('http_rate_limit_plugin');
    await createProductsTable(testDb.db);
  });

  after(async () => {
    await testDb.drop();
  });

  it('limits the plugin’s routes only; a key revoked through the same vectorsync is refused at once', async () => {
    const vectorsync = await openVectorsync(
      {
        ...demoConfig({ dimensions: 32 }),
        databaseUrl: testDb.url,
        server: { rateLimit: { max, windowMs } },
      },
      { env: {} },
    );
    const app = Fastify();
    app.get('/mine', async () => ({ mine: true }));
    await app.register(vectorsyncPlugin, { vectorsync, prefix: '/vs' });
    try {
      const { key, record } = await vectorsync.apiKeys.create({ name: 'plugin-app', tenant: 'acme' });
      const headers = { authorization: `Bearer ${key}` };
      for (let n = 0; n < max; n++)
        assert.equal((await app.inject({ url: '/vs/v1/collections', headers })).statusCode, 200);
      assertRateLimited(await app.inject({ url: '/vs/v1/collections', headers }), 'a plugin route');
      for (let n = 0; n < max * 2; n++) {
        const mine = await app.inject({ url: '/mine', headers });
        assert.equal(mine.statusCode, 200, 'the application’s own route is not limited');
        assert.equal(mine.headers['x-ratelimit-limit'], undefined);
        assert.equal((await app.inject({ url: '/vs/healthz' })).statusCode, 200);
      }

      const other = await vectorsync.apiKeys.create({ name: 'plugin-other', tenant: 'acme' });
      const otherHeaders = { authorization: `Bearer ${other.key}` };
      assert.equal((await app.inject({ url: '/vs/v1/collections', headers: otherHeaders })).statusCode, 200);
      await vectorsync.apiKeys.revoke(other.record.prefix);
      const revoked = await app.inject({ url: '/vs/v1/collections', headers: otherHeaders });
      assert.equal(revoked.statusCode, 401, 'no cached acceptance survives a revoke in this process');
      assert.equal(revoked.json().error.message, 'API key has been revoked');
      assert.ok(record.kind === 'tenant');
    } finally {
      await app.close();
      await vectorsync.close();
    }
  });
});
