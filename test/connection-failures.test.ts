import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { parseConfig } from '../src/config/resolve-config.js';
import { migrate } from '../src/db/migrator.js';
import { PgDatabase } from '../src/db/pg-database.js';
import { demoConfig } from '../src/demo/demo-schema.js';
import { silentLogger } from '../src/logger.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { createApiKey } from '../src/server/api-keys.js';
import { createServer } from '../src/server/create-server.js';
import { ServiceMetrics } from '../src/server/metrics.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import { runCli } from './helpers/cli-process.js';
import { type DatabaseRouteCall, databaseRoutes } from './helpers/database-routes.js';
import { freePort, PostgresCluster } from './helpers/postgres-cluster.js';
import { createProductsTable, fastSync } from './helpers/products-fixture.js';
import { waitFor } from './helpers/wait-for.js';

const PASSWORD = 'right-horse-battery';
const APP_PASSWORD = 'app-s3cret-pw';

/** A cluster that checks passwords (the shared test cluster trusts everyone). */
let cluster: PostgresCluster;

before(async () => {
  cluster = await PostgresCluster.start({ password: PASSWORD });
});

after(async () => {
  await cluster?.destroy();
});

function cliConfig(databaseUrl: string): unknown {
  return { ...demoConfig({ dimensions: 32 }), databaseUrl };
}

interface Target {
  label: string;
  url: string;
  host: string;
  port: number;
  database: string;
  user: string;
  reason: string;
  hint: RegExp;
  password: string;
}

/** Runs a CLI command against `target` and checks the one line it must print, and nothing else. */
async function assertOneLineFailure(target: Target, args: string[], viaEnv = false): Promise<void> {
  const result = viaEnv
    ? await runCli(cliConfig('postgres://unused@127.0.0.1:9/unused'), args, { DATABASE_URL: target.url })
    : await runCli(cliConfig(target.url), args);
  const context = `vectorsync ${args.join(' ')} against ${target.label}:\n${result.output}`;
  assert.notEqual(result.code, 0, `exits non-zero: ${context}`);
  assert.equal(result.code, 1, context);
  const lines = result.output.split('\n').filter((line) => line.trim() !== '');
  const errorLines = lines.filter((line) => line.startsWith('error'));
  assert.equal(errorLines.length, 1, `one error line: ${context}`);
  // The demo announces which database it uses before connecting; every other command prints only the error.
  if (!viaEnv) assert.equal(lines.length, 1, `nothing but the error line: ${context}`);
  const line = errorLines[0]!;
  assert.ok(
    line.startsWith(
      `error SOURCE_UNAVAILABLE: cannot connect to Postgres at ${target.host}:${target.port}, database "${target.database}" as user "${target.user}": ${target.reason}; hint: `,
    ),
    context,
  );
  assert.match(line.slice(line.indexOf('; hint: ')), target.hint, context);
  assert.ok(!result.output.includes(target.password), `never the password: ${context}`);
  assert.doesNotMatch(result.output, /^\s+at /m, `no stack trace: ${context}`);
}

describe('CLI: a database that cannot be reached is one line with a code, the target and a hint', () => {
  const targets: Target[] = [];

  before(async () => {
    const refusedPort = await freePort();
    targets.push(
      {
        label: 'a port nobody listens on',
        url: `postgres://shop_app:${APP_PASSWORD}@127.0.0.1:${refusedPort}/shop`,
        host: '127.0.0.1',
        port: refusedPort,
        database: 'shop',
        user: 'shop_app',
        reason: 'connection refused',
        hint: /is Postgres running and accepting TCP connections on 127\.0\.0\.1:\d+\?/,
        password: APP_PASSWORD,
      },
      {
        // .invalid never resolves (RFC 6761).
        label: 'an unknown host',
        url: `postgres://shop_app:${APP_PASSWORD}@db.vectorsync.invalid:5432/shop`,
        host: 'db.vectorsync.invalid',
        port: 5432,
        database: 'shop',
        user: 'shop_app',
        reason: 'unknown host',
        hint: /the host name "db\.vectorsync\.invalid" does not resolve/,
        password: APP_PASSWORD,
      },
      {
        label: 'a wrong password',
        url: cluster.url('postgres', 'not-the-password'),
        host: '127.0.0.1',
        port: cluster.port,
        database: 'postgres',
        user: 'postgres',
        reason: 'authentication failed',
        hint: /check the user "postgres" and password/,
        password: 'not-the-password',
      },
      {
        label: 'a database that does not exist',
        url: cluster.url('no_such_shop'),
        host: '127.0.0.1',
        port: cluster.port,
        database: 'no_such_shop',
        user: 'postgres',
        reason: 'database does not exist',
        hint: new RegExp(`create it \\(createdb -h 127\\.0\\.0\\.1 -p ${cluster.port} no_such_shop\\)`),
        password: PASSWORD,
      },
    );
  });

  it('status, for each kind of failure', async () => {
    for (const target of targets) await assertOneLineFailure(target, ['status']);
  });

  it('serve refuses to start, for each kind of failure', async () => {
    for (const target of targets) await assertOneLineFailure(target, ['serve', '--port', '0']);
  });

  it('every other command that connects', async () => {
    const [refused] = targets;
    const commands = [
      ['worker'],
      ['migrate'],
      ['setup'],
      ['reconcile'],
      ['keys', 'list'],
      ['events', 'list'],
      ['cdc', 'status'],
      ['check'],
    ];
    for (const args of commands) await assertOneLineFailure(refused!, args);
    // The demo reads DATABASE_URL only.
    await assertOneLineFailure(refused!, ['demo', '--exit-after-load'], true);
  });
});

describe('HTTP: source connection failures answer 503 SOURCE_UNAVAILABLE on every route', () => {
  const database = 'vs_http_outage';
  let admin: pg.Client;
  let db: PgDatabase;
  let runtime: VectorsyncRuntime;
  let app: FastifyInstance;
  const keys = { tenant: '', admin: '' };

  before(async () => {
    admin = new pg.Client({ connectionString: cluster.url() });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    const url = cluster.url(database);
    const setupDb = PgDatabase.fromUrl(url, { max: 2 });
    await setupDb.query('CREATE EXTENSION IF NOT EXISTS vector');
    await migrate(setupDb);
    await createProductsTable(setupDb);
    await setupDb.close();
    const config = parseConfig({
      ...demoConfig({ dimensions: 32 }),
      databaseUrl: url,
      sync: fastSync,
      // Every request looks its key up, so every route meets the outage (with the cache, a key
      // seen in the last seconds still reaches the routes that need no database).
      server: { apiKeyCacheMs: 0 },
    });
    db = PgDatabase.fromUrl(url, { max: 4 });
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
    await admin?.end().catch(() => undefined);
  });

  const routes = databaseRoutes;

  async function call(route: DatabaseRouteCall) {
    return app.inject({
      method: route.method,
      url: route.url,
      headers: { authorization: `Bearer ${route.admin ? keys.admin : keys.tenant}` },
      ...(route.payload === undefined ? {} : { payload: route.payload as object }),
    });
  }

  async function assertEveryRouteUnavailable(leak: RegExp): Promise<void> {
    for (const route of routes) {
      const response = await call(route);
      const context = `${route.method} ${route.url}: ${response.statusCode} ${response.body}`;
      assert.equal(response.statusCode, 503, context);
      assert.equal(response.json().error.code, 'SOURCE_UNAVAILABLE', context);
      assert.ok(Number(response.headers['retry-after']) > 0, `Retry-After: ${context}`);
      assert.doesNotMatch(response.body, leak, `no database text reaches the client: ${context}`);
    }
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 503);
    assert.equal(ready.json().checks.database.code, 'SOURCE_UNAVAILABLE', ready.body);
    assert.doesNotMatch(ready.body, leak, `readyz quotes no database text: ${ready.body}`);
    assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  }

  /** Ends the service's sessions, so the next request needs a new connection (and its authentication). */
  async function dropServiceConnections(): Promise<void> {
    await admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [database],
    );
    await waitFor(() => db.pool.totalCount === 0, { message: 'the pool to drop its terminated clients' });
  }

  it('serves before the outage', async () => {
    for (const route of [routes[0]!, routes[8]!]) assert.equal((await call(route)).statusCode, 200);
  });

  it('a rotated password: 503, not 500, and no user name or SQL text in the answer', async () => {
    await admin.query(`ALTER ROLE postgres PASSWORD 'rotated-elsewhere'`);
    try {
      await dropServiceConnections();
      await assertEveryRouteUnavailable(/password|authentication|postgres"|28P01/i);
    } finally {
      await admin.query(`ALTER ROLE postgres PASSWORD '${PASSWORD}'`);
    }
    assert.equal((await call(routes[0]!)).statusCode, 200, 'serves again once the password is back');
  });

  it('a stopped server: 503 on every route, and it serves again when Postgres is back', async () => {
    await admin.end();
    await cluster.stopServer();
    try {
      await waitFor(() => db.pool.totalCount === 0, { message: 'the pool to drop its closed clients' });
      await assertEveryRouteUnavailable(/ECONNREFUSED|127\.0\.0\.1|terminated/i);
    } finally {
      await cluster.startServer();
      admin = new pg.Client({ connectionString: cluster.url() });
      await admin.connect();
    }
    await waitFor(async () => (await call(routes[0]!)).statusCode === 200, {
      message: 'the service to reconnect',
    });
  });

  it('a dropped database: 503 on every route', async () => {
    await admin.query(`DROP DATABASE ${database} WITH (FORCE)`);
    await waitFor(() => db.pool.totalCount === 0, { message: 'the pool to drop its terminated clients' });
    await assertEveryRouteUnavailable(new RegExp(`${database}|3D000|does not exist`));
  });
});
