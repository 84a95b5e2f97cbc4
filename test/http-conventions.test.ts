import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { demoConfig } from '../src/demo/demo-schema.js';
import { vectorsyncPlugin } from '../src/fastify.js';
import { openVectorsync } from '../src/index.js';
import type { LogFields, Logger } from '../src/logger.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { createApiKey } from '../src/server/api-keys.js';
import { createServer } from '../src/server/create-server.js';
import { ServiceMetrics } from '../src/server/metrics.js';
import { createProductsTable, fastSync, productsConfig } from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';

interface LogLine {
  level: string;
  fields: LogFields;
  message: string;
}

/** Records every line, with the fields of the loggers it descends from. */
function capturingLogger(lines: LogLine[], base: LogFields = {}): Logger {
  const write = (level: string) => (fields: LogFields, message: string) =>
    lines.push({ level, fields: { ...base, ...fields }, message });
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child: (fields) => capturingLogger(lines, { ...base, ...fields }),
  };
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('HTTP conventions: request ids, CORS, metric names', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let corsRuntime: VectorsyncRuntime;
  let app: FastifyInstance;
  let corsApp: FastifyInstance;
  const lines: LogLine[] = [];
  const keys = { acme: '', admin: '' };

  before(async () => {
    testDb = await createTestDatabase('http_conventions');
    await createProductsTable(testDb.db);
    const logger = capturingLogger(lines);
    runtime = await VectorsyncRuntime.open({
      config: productsConfig(testDb),
      db: testDb.connect({ applicationName: 'vectorsync-runtime' }),
      logger,
    });
    app = createServer({ runtime, logger, metrics: new ServiceMetrics(runtime) });
    // An application's own route beside ours (VectorsyncService.app): it runs in our hooks.
    app.register(async (child) => {
      child.post('/v1/test/deep-log', async (request) => {
        await new Promise((resolve) => setImmediate(resolve));
        // A line from deep inside that knows nothing of the request.
        runtime.logger.child({ component: 'deep' }).warn({ body: request.body }, 'deep line');
        return { ok: true };
      });
    });
    corsRuntime = await VectorsyncRuntime.open({
      config: productsConfig(testDb, {
        server: { cors: { origins: ['https://app.example.com'], maxAgeSeconds: 300 } } as never,
      }),
      db: testDb.connect({ applicationName: 'vectorsync-runtime-cors' }),
    });
    corsApp = createServer({ runtime: corsRuntime, logger: capturingLogger([]) });
    keys.acme = (await createApiKey(testDb.db, { name: 'acme-app', tenant: 'acme' })).key;
    keys.admin = (await createApiKey(testDb.db, { name: 'ops', admin: true })).key;
  });

  after(async () => {
    await app.close();
    await corsApp.close();
    await runtime.close();
    await corsRuntime.close();
    await testDb.drop();
  });

  const linesOf = (requestId: string) => lines.filter((line) => line.fields.requestId === requestId);

  describe('request ids', () => {
    it('echoes a valid x-request-id and writes it on every log line of the request, deep ones too', async () => {
      const requestId = 'trace-7f3a:checkout/42';
      // A real socket: a body arrives on the connection's events, outside the request's scope.
      const address = await app.listen({ host: '127.0.0.1', port: 0 });
      const response = await fetch(`${address}/v1/test/deep-log`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${keys.acme}`,
          'x-request-id': requestId,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ hello: 'world' }),
      });
      assert.equal(response.status, 200, await response.text());
      assert.equal(response.headers.get('x-request-id'), requestId);
      const messages = linesOf(requestId).map((line) => line.message);
      assert.ok(messages.includes('deep line'), `lines of the request: ${JSON.stringify(messages)}`);
      const deep = linesOf(requestId).find((line) => line.message === 'deep line')!;
      assert.equal(deep.fields.component, 'deep', 'the scope adds to, not replaces, the line’s fields');
    });

    it('echoes it on errors (in the envelope too) and on 404s', async () => {
      const requestId = 'req-error-1';
      const unauthenticated = await app.inject({
        method: 'GET',
        url: '/v1/sync/status',
        headers: { 'x-request-id': requestId },
      });
      assert.equal(unauthenticated.statusCode, 401);
      assert.equal(unauthenticated.headers['x-request-id'], requestId);
      assert.equal(unauthenticated.json().error.requestId, requestId);

      const missing = await app.inject({
        method: 'GET',
        url: '/v1/collections/products/documents/nope',
        headers: { authorization: `Bearer ${keys.acme}`, 'x-request-id': 'req-missing-1' },
      });
      assert.equal(missing.statusCode, 404);
      assert.equal(missing.json().error.code, 'DOCUMENT_NOT_FOUND');
      assert.equal(missing.headers['x-request-id'], 'req-missing-1');

      const noRoute = await app.inject({
        method: 'GET',
        url: '/v1/no-such-route',
        headers: { authorization: `Bearer ${keys.acme}`, 'x-request-id': 'req-404-1' },
      });
      assert.equal(noRoute.statusCode, 404);
      assert.equal(noRoute.json().error.code, 'NOT_FOUND');
      assert.equal(noRoute.headers['x-request-id'], 'req-404-1');
      assert.equal(noRoute.json().error.requestId, 'req-404-1');
    });

    it('replaces an invalid id with a new UUID and never echoes it', async () => {
      for (const invalid of ['has space', 'x'.repeat(129), 'tab\there', 'ünïcode']) {
        const response = await app.inject({
          method: 'GET',
          url: '/healthz',
          headers: { 'x-request-id': invalid },
        });
        const echoed = String(response.headers['x-request-id']);
        assert.match(echoed, uuid, `for ${JSON.stringify(invalid)}`);
        assert.notEqual(echoed, invalid);
        assert.ok(!lines.some((line) => line.fields.requestId === invalid));
        assert.ok(linesOf(echoed).some((line) => line.message === 'request'));
      }
      const none = await app.inject({ method: 'GET', url: '/healthz' });
      assert.match(String(none.headers['x-request-id']), uuid);
    });

    it('does the same in an application’s Fastify (vectorsync/fastify)', async () => {
      const pluginLines: LogLine[] = [];
      const vectorsync = await openVectorsync(
        {
          ...demoConfig({ dimensions: 64 }),
          databaseUrl: testDb.url,
          sync: fastSync,
          server: { cors: { origins: ['https://app.example.com'] } },
        },
        { env: {} },
      );
      const host = Fastify();
      try {
        await host.register(vectorsyncPlugin, {
          vectorsync,
          logger: capturingLogger(pluginLines),
          prefix: '/search-api',
        });
        const sent = await host.inject({
          method: 'GET',
          url: '/search-api/v1/sync/status',
          headers: { 'x-request-id': 'plugin-req-1', origin: 'https://app.example.com' },
        });
        assert.equal(sent.statusCode, 401);
        assert.equal(sent.headers['x-request-id'], 'plugin-req-1');
        assert.equal(sent.json().error.requestId, 'plugin-req-1');
        assert.equal(sent.headers['access-control-allow-origin'], 'https://app.example.com');
        assert.ok(pluginLines.some((line) => line.fields.requestId === 'plugin-req-1'));

        const invalid = await host.inject({
          method: 'GET',
          url: '/search-api/healthz',
          headers: { 'x-request-id': 'bad id' },
        });
        assert.notEqual(invalid.headers['x-request-id'], 'bad id');
        assert.ok(String(invalid.headers['x-request-id']).length > 0);
      } finally {
        await host.close();
        await vectorsync.close();
      }
    });
  });

  describe('CORS', () => {
    const preflight = (target: FastifyInstance, origin: string) =>
      target.inject({
        method: 'OPTIONS',
        url: '/v1/collections/products/documents',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type, x-request-id',
        },
      });

    it('answers a preflight from an allowed origin with our headers, before authentication', async () => {
      const response = await preflight(corsApp, 'https://app.example.com');
      assert.equal(response.statusCode, 204, response.body);
      assert.equal(response.headers['access-control-allow-origin'], 'https://app.example.com');
      const allowed = String(response.headers['access-control-allow-headers']).split(/,\s*/);
      for (const header of [
        'authorization',
        'x-api-key',
        'content-type',
        'x-request-id',
        'x-vectorsync-tenant',
      ])
        assert.ok(allowed.includes(header), `${header} in ${allowed}`);
      assert.match(String(response.headers['access-control-allow-methods']), /POST/);
      assert.equal(response.headers['access-control-max-age'], '300');
      assert.equal(response.headers['access-control-allow-credentials'], undefined);
    });

    it('marks actual requests from an allowed origin, errors included, and exposes our headers', async () => {
      const ok = await corsApp.inject({
        method: 'GET',
        url: '/v1/collections/products/documents/none',
        headers: { authorization: `Bearer ${keys.acme}`, origin: 'https://app.example.com' },
      });
      assert.equal(ok.statusCode, 404);
      assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example.com');
      const exposed = String(ok.headers['access-control-expose-headers']).split(/,\s*/);
      for (const header of ['x-request-id', 'x-vectorsync-index', 'retry-after', 'location'])
        assert.ok(exposed.includes(header), `${header} in ${exposed}`);
      const unauthenticated = await corsApp.inject({
        method: 'GET',
        url: '/v1/sync/status',
        headers: { origin: 'https://app.example.com' },
      });
      assert.equal(unauthenticated.statusCode, 401);
      assert.equal(unauthenticated.headers['access-control-allow-origin'], 'https://app.example.com');
    });

    it('sends no CORS headers to an origin not listed', async () => {
      const response = await preflight(corsApp, 'https://evil.example.net');
      assert.notEqual(response.statusCode, 204);
      assert.equal(response.headers['access-control-allow-origin'], undefined);
      assert.equal(response.headers['access-control-allow-methods'], undefined);
      const actual = await corsApp.inject({
        method: 'GET',
        url: '/healthz',
        headers: { origin: 'https://evil.example.net' },
      });
      assert.equal(actual.statusCode, 200);
      assert.equal(actual.headers['access-control-allow-origin'], undefined);
      assert.equal(actual.headers['access-control-expose-headers'], undefined);
    });

    it('sends nothing when server.cors is not configured', async () => {
      const response = await preflight(app, 'https://app.example.com');
      assert.notEqual(response.statusCode, 204);
      assert.equal(response.headers['access-control-allow-origin'], undefined);
      const actual = await app.inject({
        method: 'GET',
        url: '/healthz',
        headers: { origin: 'https://app.example.com' },
      });
      assert.equal(actual.headers['access-control-allow-origin'], undefined);
      assert.equal(actual.headers['access-control-expose-headers'], undefined);
    });
  });

  describe('metrics', () => {
    it('uses the standard default names and the conventional HTTP histogram', async () => {
      await app.inject({ method: 'GET', url: '/healthz' });
      const response = await app.inject({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: `Bearer ${keys.admin}` },
      });
      assert.equal(response.statusCode, 200);
      const body = response.body;
      assert.match(body, /^process_cpu_seconds_total \d/m);
      assert.match(body, /^nodejs_heap_size_total_bytes \d/m);
      assert.match(
        body,
        /^http_request_duration_seconds_count\{method="GET",route="\/healthz",status_code="200"\} [1-9]/m,
      );
      assert.doesNotMatch(body, /vectorsync_process_|vectorsync_http_/);
      assert.match(body, /^vectorsync_sync_pending_events\{collection="products"\} \d/m);
    });
  });
});
