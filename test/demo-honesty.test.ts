import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { PgliteDatabase } from '../src/db/pglite-database.js';
import { bootstrapDemo, demoInstructions } from '../src/demo/demo-bootstrap.js';
import { silentLogger } from '../src/logger.js';
import { startService } from '../src/server/start-service.js';
import { readSyncStatus } from '../src/status/sync-status.js';
import { CHILD_PROCESS_WAIT_MS, trackChildProcess } from './helpers/child-processes.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

/** `vectorsync demo` on DATABASE_URL, loading a small catalog and exiting once it is indexed. */
function runDemo(databaseUrl: string, extra: string[] = []) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' };
    const child = trackChildProcess(
      spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'src/cli/main.ts',
          'demo',
          '--products',
          '30',
          '--port',
          '0',
          '--exit-after-load',
          ...extra,
        ],
        { env, stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('an honest demo', () => {
  it('names the fusion search really uses, shows product names, and reports no live lag for its backfill', async () => {
    const db = await PgliteDatabase.create();
    const state = await bootstrapDemo({
      db,
      logger: silentLogger,
      products: 60,
      port: 0,
      host: '127.0.0.1',
      embedder: 'hash',
    });
    const service = await startService(state.runtime, silentLogger);
    try {
      const target = state.runtime.activeTarget('products');
      await waitFor(
        async () => (await state.runtime.collection('products').store.count(target.spec)) === 85,
        {
          timeoutMs: 60_000,
          message: 'the demo catalog to be indexed',
        },
      );
      const response = await fetch(
        `${service.url}/v1/collections/products/search?q=warm+winter+jacket&k=5&explain=true`,
        { headers: { authorization: `Bearer ${state.tenantKey}` } },
      );
      const body = (await response.json()) as {
        hits: Array<{ id: string; payload: Record<string, unknown>; explain: { fusion: string } }>;
      };
      assert.equal(response.status, 200);
      assert.ok(body.hits.length > 0, JSON.stringify(body));
      const fusion = body.hits[0]!.explain.fusion;
      const banner = demoInstructions(service.url, state);
      assert.ok(banner.includes(`fused by ${fusion}`), `the banner names "${fusion}":\n${banner}`);

      const names = await db.query<{ article_id: string; name: string }>(
        'SELECT article_id, name FROM products WHERE article_id = ANY($1)',
        [body.hits.map((hit) => hit.id)],
      );
      const byId = new Map(names.rows.map((row) => [row.article_id, row.name]));
      for (const hit of body.hits) assert.equal(hit.payload.name, byId.get(hit.id), `name of hit ${hit.id}`);

      // The catalog was there before setup: a backfill, not live changes with minutes of lag.
      const status = (await readSyncStatus(state.runtime)).collections[0]!;
      assert.equal(status.work.backfill.lag.samples, 85);
      assert.equal(status.lag.samples, 0);
    } finally {
      await service.stop();
      await state.runtime.close();
      await db.close();
    }
  });

  describe('on a DATABASE_URL', () => {
    let testDb: TestDatabase;
    before(async () => {
      // An application's database: no vectorsync, two tables of its own.
      testDb = await createTestDatabase('demo_refuses', { empty: true });
      await testDb.db.query('CREATE TABLE public.orders (id int PRIMARY KEY)');
      await testDb.db.query('CREATE TABLE public.customers (id int PRIMARY KEY)');
    });
    after(async () => {
      await testDb.drop();
    });

    it('refuses a database that already has tables, naming it and them, and changes nothing', async () => {
      const result = await runDemo(testDb.url);
      assert.equal(result.code, 1, result.stderr);
      const host = new URL(testDb.url).host;
      assert.match(
        result.stderr,
        new RegExp(
          `^error DEMO_DATABASE_NOT_EMPTY: database "${testDb.name}" on ${host.replace(/[.]/g, '\\.')} already has 2 table\\(s\\): public\\.customers, public\\.orders\\. .*--force`,
          'm',
        ),
      );
      const created = await testDb.db.query(
        `SELECT 1 FROM pg_namespace WHERE nspname = 'vectorsync' UNION ALL SELECT 1 WHERE to_regclass('public.products') IS NOT NULL`,
      );
      assert.equal(created.rowCount, 0, 'no schema or table created');
    });

    it('uses it with --force, and again afterwards as the demo’s own', {
      timeout: CHILD_PROCESS_WAIT_MS * 2,
    }, async () => {
      const forced = await runDemo(testDb.url, ['--force']);
      assert.equal(forced.code, 0, forced.stderr);
      // 30 products, 25 of the other tenant, 6 articles for each tenant.
      assert.match(forced.stderr, /indexing: 67 event\(s\) applied/);
      const again = await runDemo(testDb.url);
      assert.equal(again.code, 0, 'the demo’s products table does not count');
      // --force on the application's database never marks its tables as the demo's.
      const marked = await testDb.db.query(
        `SELECT 1 FROM pg_description d JOIN pg_class c ON c.oid = d.objoid WHERE c.relname IN ('orders', 'customers')`,
      );
      assert.equal(marked.rowCount, 0);
    });
  });
});
