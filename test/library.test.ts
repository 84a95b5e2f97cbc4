import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import Fastify from 'fastify';
import { demoConfig } from '../src/demo/demo-schema.js';
import { vectorsyncPlugin } from '../src/fastify.js';
import {
  ErrorCode,
  enqueueChange,
  isVectorsyncError,
  openVectorsync,
  type Vectorsync,
  type VectorsyncConfigInput,
} from '../src/index.js';
import { createProductsTable, fastSync, insertProducts, products } from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

function rejectsWith(code: string) {
  return (error: unknown) => {
    assert.ok(isVectorsyncError(error), `a VectorsyncError, got ${error}`);
    assert.equal(error.code, code, error.message);
    return true;
  };
}

/** The public library API (src/index.ts) as a program embedding vectorsync uses it. */
describe('the library API: openVectorsync()', () => {
  let testDb: TestDatabase;
  let config: VectorsyncConfigInput;
  let vectorsync: Vectorsync;
  let dir: string;

  before(async () => {
    testDb = await createTestDatabase('library');
    await createProductsTable(testDb.db);
    await insertProducts(testDb.db, 'acme', products(40, 3));
    await insertProducts(testDb.db, 'globex', products(5, 4));
    config = { ...demoConfig({ dimensions: 32 }), databaseUrl: testDb.url, sync: fastSync };
    dir = await mkdtemp(join(tmpdir(), 'vectorsync-library-'));
  });

  after(async () => {
    await vectorsync?.close();
    await testDb.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('opens from a config file, a file URL or an object; the environment overrides unless env is given', async () => {
    const path = join(dir, 'vectorsync.config.json');
    await writeFile(path, JSON.stringify(config));
    for (const source of [path, pathToFileURL(path)]) {
      const opened = await openVectorsync(source, { env: {} });
      assert.equal(opened.config.configPath, path);
      assert.deepEqual(opened.collections, ['products']);
      await opened.close();
    }
    // DATABASE_URL in the environment wins over the config (as for the CLI): here, a database that does not exist.
    const missing = new URL(testDb.url);
    missing.pathname = '/vectorsync_no_such_database';
    await assert.rejects(
      openVectorsync(config, { env: { DATABASE_URL: missing.toString() } }),
      /does not exist/,
    );
  });

  it('refuses to start workers before setup, naming the collection', async () => {
    vectorsync = await openVectorsync(config, { env: {} });
    await assert.rejects(vectorsync.startWorkers(), rejectsWith(ErrorCode.IndexNotFound));
  });

  it('sets up, syncs and searches with cursors, scoped to the tenant', async () => {
    const [result] = await vectorsync.setup();
    assert.equal(result?.collection, 'products');
    assert.equal(result?.backfilled, 45);
    const workers = await vectorsync.startWorkers();
    assert.equal(workers.running, true);
    await waitFor(
      async () => {
        const status = await vectorsync.status();
        return status.collections[0]!.pending + status.collections[0]!.processing === 0;
      },
      { timeoutMs: 60_000, message: 'the backfill to be applied' },
    );
    const first = await vectorsync.search({ collection: 'products', tenant: 'acme', query: 'shirt', k: 5 });
    assert.equal(first.k, 5);
    assert.equal(first.mode, 'hybrid');
    assert.equal(first.hits.length, 5);
    assert.ok(first.next);
    const second = await vectorsync.search({
      collection: 'products',
      tenant: 'acme',
      query: 'shirt',
      k: 5,
      cursor: first.next,
    });
    assert.equal(second.offset, 5);
    const ids = new Set([...first.hits, ...second.hits].map((hit) => hit.id));
    assert.equal(ids.size, 10);
    const globex = await vectorsync.search({
      collection: 'products',
      tenant: 'globex',
      query: 'shirt',
      k: 50,
    });
    assert.ok(globex.hits.length <= 5 && globex.hits.every((hit) => !ids.has(hit.id)));
    await assert.rejects(
      vectorsync.search({
        collection: 'products',
        tenant: 'acme',
        query: 'x',
        cursor: first.next!,
        offset: 5,
      }),
      rejectsWith(ErrorCode.InvalidRequest),
    );
    await assert.rejects(
      vectorsync.search({ collection: 'products', tenant: 'acme', query: 'x', filter: { nope: { eq: 1 } } }),
      rejectsWith(ErrorCode.InvalidFilter),
    );
    const report = await vectorsync.reconcile({ collection: 'products' });
    assert.equal(report.inSync, true);
    assert.equal(report.trigger, 'library');
    await workers.stop();
    assert.equal(workers.running, false);
  });

  it('enqueues in the caller’s transaction: a rolled-back write leaves no event', async () => {
    const [item] = products(1, 99);
    const event = await testDb.db.transaction(async (tx) => {
      await insertProducts(tx, 'acme', [item!]);
      return vectorsync.enqueue({ collection: 'products', tenant: 'acme', id: item!.article_id }, tx);
    });
    const committed = await testDb.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM vectorsync.outbox WHERE id = $1',
      [event],
    );
    assert.equal(committed.rows[0]!.n, 1);
    let rolledBack: string | undefined;
    await assert.rejects(
      testDb.db.transaction(async (tx) => {
        rolledBack = await enqueueChange(tx, { collection: 'products', tenant: 'acme', id: 'gone' });
        throw new Error('the application rolls back');
      }),
      /rolls back/,
    );
    const kept = await testDb.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM vectorsync.outbox WHERE id = $1',
      [rolledBack],
    );
    assert.equal(kept.rows[0]!.n, 0);
    await assert.rejects(
      vectorsync.enqueue({ collection: 'produkts', tenant: 'acme', id: '1' }),
      rejectsWith(ErrorCode.UnknownCollection),
    );
  });

  it('mounts the HTTP routes in an application’s Fastify without touching its other routes', async () => {
    const app = Fastify();
    app.get('/mine', async () => ({ mine: true }));
    await app.register(vectorsyncPlugin, { vectorsync, prefix: '/vs' });
    try {
      const { key } = await vectorsync.apiKeys.create({ name: 'library-test', tenant: 'acme' });
      assert.equal((await app.inject({ url: '/mine' })).statusCode, 200);
      assert.equal((await app.inject({ url: '/vs/healthz' })).statusCode, 200);
      const denied = await app.inject({ url: '/vs/v1/collections/products/search?q=shirt' });
      assert.equal(denied.statusCode, 401);
      assert.equal(denied.json().error.code, 'UNAUTHENTICATED');
      const found = await app.inject({
        url: '/vs/v1/collections/products/search?q=shirt&k=3',
        headers: { authorization: `Bearer ${key}` },
      });
      assert.equal(found.statusCode, 200, found.body);
      assert.equal(found.json().hits.length, 3);
      const unknown = await app.inject({
        url: '/vs/v1/collections/nope/search?q=shirt',
        headers: { authorization: `Bearer ${key}` },
      });
      assert.equal(unknown.statusCode, 404);
      assert.equal(unknown.json().error.code, 'UNKNOWN_COLLECTION');
      assert.ok((await vectorsync.apiKeys.list()).some((record) => record.name === 'library-test'));
    } finally {
      await app.close();
    }
    const foreign = Fastify();
    await assert.rejects(async () => {
      await foreign.register(vectorsyncPlugin, { vectorsync: { ...vectorsync } });
      await foreign.ready();
    }, rejectsWith(ErrorCode.InvalidRequest));
    await foreign.close().catch(() => undefined);
  });

  it('sets, lists and clears embedding budgets, refusing a negative one', async () => {
    await vectorsync.budgets.set({ collection: 'products', tenant: 'acme', period: 'day', limitUsd: 5 });
    const [standing] = await vectorsync.budgets.list('products');
    assert.equal(standing?.tenant, 'acme');
    assert.equal(standing?.limitUsd, 5);
    assert.equal(standing?.spentUsd, 0, 'a hash embedder is not billed');
    assert.equal(standing?.exhausted, false);
    await assert.rejects(
      vectorsync.budgets.set({ collection: 'products', period: 'month', limitUsd: -1 }),
      rejectsWith(ErrorCode.InvalidRequest),
    );
    assert.equal(
      await vectorsync.budgets.clear({ collection: 'products', tenant: 'acme', period: 'day' }),
      true,
    );
    assert.equal(
      await vectorsync.budgets.clear({ collection: 'products', tenant: 'acme', period: 'day' }),
      false,
    );
    assert.deepEqual(await vectorsync.budgets.list('products'), []);
  });

  it('serves the HTTP service; close() stops it and refuses further use', async () => {
    const service = await vectorsync.serve({ host: '127.0.0.1', port: 0, workers: false });
    const health = await fetch(`${service.url}/healthz`);
    assert.equal(health.status, 200);
    await vectorsync.close();
    await vectorsync.close();
    await assert.rejects(fetch(`${service.url}/healthz`));
    await assert.rejects(vectorsync.status(), rejectsWith(ErrorCode.InvalidRequest));
  });

  it('a database without the schema fails with MIGRATIONS_PENDING unless migrate: true', async () => {
    const empty = await createTestDatabase('library_empty', { empty: true });
    try {
      await empty.db.query('CREATE EXTENSION IF NOT EXISTS vector');
      await createProductsTable(empty.db);
      const emptyConfig = { ...config, databaseUrl: empty.url };
      await assert.rejects(
        openVectorsync(emptyConfig, { env: {} }),
        rejectsWith(ErrorCode.MigrationsPending),
      );
      const migrated = await openVectorsync(emptyConfig, { env: {}, migrate: true });
      assert.deepEqual((await migrated.migrate()).applied, []);
      await migrated.close();
    } finally {
      await empty.drop();
    }
  });
});
