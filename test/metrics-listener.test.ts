import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../src/logger.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { createApiKey } from '../src/server/api-keys.js';
import { type RunningService, startService } from '../src/server/start-service.js';
import { createProductsTable, openProductsRuntime, productsConfig } from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';

describe('server.metricsPort: an unauthenticated listener serving only GET /metrics', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let service: RunningService;
  let adminKey: string;

  before(async () => {
    testDb = await createTestDatabase('metrics_listener');
    await createProductsTable(testDb.db);
    runtime = await openProductsRuntime(testDb, {
      config: productsConfig(testDb, { server: { port: 0, metricsPort: 0 } as never }),
    });
    service = await startService(runtime, silentLogger, { runWorkers: false });
    adminKey = (await createApiKey(testDb.db, { name: 'ops', admin: true })).key;
  });

  after(async () => {
    await service.stop();
    await runtime.close();
    await testDb.drop();
  });

  it('serves the metrics without a key on its own port; the main port still wants an admin key', async () => {
    assert.ok(service.metricsUrl, 'a metrics listener was started');
    assert.match(service.metricsUrl, /^http:\/\/localhost:\d+\/metrics$/);
    assert.notEqual(new URL(service.metricsUrl).port, new URL(service.url).port);

    const scraped = await fetch(service.metricsUrl);
    assert.equal(scraped.status, 200);
    assert.match(scraped.headers.get('content-type') ?? '', /^text\/plain/);
    const body = await scraped.text();
    assert.match(body, /^process_cpu_seconds_total \d/m);
    assert.match(body, /^vectorsync_sync_pending_events\{collection="products"\} \d/m);

    assert.equal((await fetch(`${service.url}/metrics`)).status, 401);
    const withKey = await fetch(`${service.url}/metrics`, {
      headers: { authorization: `Bearer ${adminKey}` },
    });
    assert.equal(withKey.status, 200);
  });

  it('serves nothing else there, not even with a key', async () => {
    const origin = new URL(service.metricsUrl!).origin;
    for (const path of ['/v1/sync/status', '/healthz', '/v1/collections/products/search?q=x']) {
      const response = await fetch(`${origin}${path}`, { headers: { authorization: `Bearer ${adminKey}` } });
      assert.equal(response.status, 404, path);
      const body = (await response.json()) as { error: { code: string; requestId: string } };
      assert.equal(body.error.code, 'NOT_FOUND');
      assert.equal(response.headers.get('x-request-id'), body.error.requestId);
    }
    assert.equal((await fetch(`${origin}/metrics`, { method: 'POST' })).status, 404);
  });

  it('closes the metrics listener on stop', async () => {
    const metricsUrl = service.metricsUrl!;
    await service.stop();
    await assert.rejects(fetch(metricsUrl), /fetch failed/);
  });
});
