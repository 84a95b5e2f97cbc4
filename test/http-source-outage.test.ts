import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { parseConfig } from '../src/config/resolve-config.js';
import { migrate } from '../src/db/migrator.js';
import { PgDatabase } from '../src/db/pg-database.js';
import { demoConfig } from '../src/demo/demo-schema.js';
import { silentLogger } from '../src/logger.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { createApiKey } from '../src/server/api-keys.js';
import { createServer } from '../src/server/create-server.js';
import { RETRY_AFTER_SECONDS } from '../src/server/http-errors.js';
import { ServiceMetrics } from '../src/server/metrics.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import { type DatabaseRouteCall, databaseRoutes } from './helpers/database-routes.js';
import { PostgresCluster } from './helpers/postgres-cluster.js';
import { createProductsTable, fastSync } from './helpers/products-fixture.js';
import { waitFor } from './helpers/wait-for.js';

/**
 * A service whose DATABASE_URL names a Unix socket (host=/var/run/postgresql, the usual local
 * setup): with Postgres stopped, connecting fails with ENOENT on the socket file rather than
 * ECONNREFUSED. Every route must still answer 503 SOURCE_UNAVAILABLE with Retry-After.
 */
describe('HTTP over a Unix socket: a stopped Postgres is 503 SOURCE_UNAVAILABLE on every route', () => {
  let cluster: PostgresCluster;
  let db: PgDatabase;
  let runtime: VectorsyncRuntime;
  let app: FastifyInstance;
  let socketDir: string;
  const keys = { tenant: '', admin: '' };

  before(async () => {
    cluster = await PostgresCluster.start();
    socketDir = join(cluster.dataDir, '..');
    const url = `postgresql:///postgres?host=${encodeURIComponent(socketDir)}&port=${cluster.port}&user=postgres`;
    const setupDb = PgDatabase.fromUrl(url, { max: 2 });
    await setupDb.query('CREATE EXTENSION IF NOT EXISTS vector');
    await migrate(setupDb);
    await createProductsTable(setupDb);
    await setupDb.close();
    db = PgDatabase.fromUrl(url, { max: 4 });
    const config = parseConfig({
      ...demoConfig({ dimensions: 32 }),
      databaseUrl: url,
      sync: fastSync,
      // Every route must meet the outage: no key answered from the lookup cache.
      server: { apiKeyCacheMs: 0 },
    });
    runtime = await VectorsyncRuntime.open({ config, db });
    await setupCollections(runtime);
    keys.tenant = (await createApiKey(db, { name: 'shop', tenant: 'acme' })).key;
    keys.admin = (await createApiKey(db, { name: 'ops', admin: true })).key;
    app = createServer({ runtime, logger: silentLogger, metrics: new ServiceMetrics(runtime) });
  });

  after(async () => {
    await app?.close();
    await runtime?.close();
    await db?.close();
    await cluster?.destroy();
  });

  const routes = databaseRoutes;

  const call = (route: DatabaseRouteCall) =>
    app.inject({
      method: route.method,
      url: route.url,
      headers: { authorization: `Bearer ${route.admin ? keys.admin : keys.tenant}` },
      ...(route.payload === undefined ? {} : { payload: route.payload as object }),
    });

  it('serves before the outage', async () => {
    for (const route of [routes[0]!, routes[8]!]) assert.equal((await call(route)).statusCode, 200);
  });

  it('answers 503 with Retry-After and no driver text while Postgres is down, and serves again after', async () => {
    await cluster.stopServer();
    try {
      await waitFor(() => db.pool.totalCount === 0, { message: 'the pool to drop its closed clients' });
      const leak = new RegExp(
        `ENOENT|\\.s\\.PGSQL|${socketDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}|connect `,
      );
      for (const route of routes) {
        const response = await call(route);
        const context = `${route.method} ${route.url}: ${response.statusCode} ${response.body}`;
        assert.equal(response.statusCode, 503, context);
        assert.equal(response.json().error.code, 'SOURCE_UNAVAILABLE', context);
        assert.equal(response.headers['retry-after'], String(RETRY_AFTER_SECONDS), context);
        assert.doesNotMatch(response.body, leak, `no driver text: ${context}`);
      }
      const ready = await app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 503, ready.body);
      assert.equal(ready.json().checks.database.code, 'SOURCE_UNAVAILABLE', ready.body);
      assert.doesNotMatch(ready.body, leak, ready.body);
      assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    } finally {
      await cluster.startServer();
    }
    await waitFor(async () => (await call(routes[0]!)).statusCode === 200, {
      message: 'the service to reconnect',
    });
  });
});
