import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { PgliteDatabase } from '../src/db/pglite-database.js';
import { bootstrapDemo } from '../src/demo/demo-bootstrap.js';
import { ErrorCode, isVectorsyncError } from '../src/errors.js';
import { IndexOperations } from '../src/indexops/index-operations.js';
import { silentLogger } from '../src/logger.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { createApiKey } from '../src/server/api-keys.js';
import { createServer } from '../src/server/create-server.js';
import { ServiceMetrics } from '../src/server/metrics.js';
import { buildPhase, holdWriter, indexOpsConfig, seededRuntime } from './helpers/index-ops-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

describe('index operations in the running service: status endpoint and metrics', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let app: FastifyInstance;
  let location: string;
  const keys = { admin: '', tenant: '' };

  before(async () => {
    testDb = await createTestDatabase('index_http');
    runtime = await seededRuntime(testDb, indexOpsConfig(testDb, {}, 32), {
      acme: 600,
      globex: 300,
      initech: 100,
    });
    app = createServer({ runtime, logger: silentLogger, metrics: new ServiceMetrics(runtime) });
    keys.admin = (await createApiKey(testDb.db, { name: 'ops', admin: true })).key;
    keys.tenant = (await createApiKey(testDb.db, { name: 'shop', tenant: 'acme' })).key;
    location = runtime.activeTarget('products').record.location;
  });

  after(async () => {
    await app.close();
    await runtime.close();
    await testDb.drop();
  });

  const get = (url: string, key: string) =>
    app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` } });

  it('shows the ANN indexes, and the progress of a build run by another process, to admin keys only', async () => {
    const idle = await get('/v1/indexes/products/status', keys.admin);
    assert.equal(idle.statusCode, 200, idle.body);
    const body = idle.json();
    assert.equal(body.supported, true);
    assert.equal(body.running, null);
    assert.deepEqual(
      body.annIndexes.map((index: { name: string; state: string; tenant: string | null }) => [
        index.name,
        index.state,
        index.tenant,
      ]),
      [[`${location}_hnsw`, 'serving', null]],
    );
    assert.equal((await get('/v1/indexes/products/status', keys.tenant)).statusCode, 403);
    const unknown = await get('/v1/indexes/produkts/status', keys.admin);
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json().error.code, 'UNKNOWN_COLLECTION');

    const release = await holdWriter(testDb, location);
    // The "other process": its own runtime and pool, as `vectorsync index build` would have.
    const builder = await VectorsyncRuntime.open({
      config: runtime.config,
      db: testDb.connect({ applicationName: 'operator' }),
    });
    const building = new IndexOperations(builder).build({
      collection: 'products',
      tenant: 'acme',
      requestedBy: 'bob',
    });
    try {
      await waitFor(async () => (await buildPhase(testDb, location)) === 'waiting for writers before build');
      const status = await waitFor(async () => {
        const response = (await get('/v1/indexes/products/status', keys.admin)).json();
        return response.running?.progress?.phase === 'waiting for writers before build'
          ? response
          : undefined;
      });
      assert.equal(status.running.kind, 'build');
      assert.equal(status.running.requestedBy, 'bob');
      assert.equal(status.running.ownerAlive, true);
      assert.equal(status.running.progress.rowsTotal, 600);
      assert.ok(status.annIndexes.some((index: { state: string }) => index.state === 'building'));
      const metrics = (await get('/metrics', keys.admin)).body;
      assert.match(metrics, /vectorsync_index_operation_running\{collection="products"\} 1/);
      assert.match(metrics, /vectorsync_index_build_progress_ratio\{collection="products"\} 0\.0\d*/);
      assert.match(metrics, /vectorsync_index_invalid_indexes\{collection="products"\} 0/);
    } finally {
      await release();
    }
    const operation = await building;
    await builder.close();
    assert.equal(operation.state, 'succeeded', operation.error ?? '');
    const history = (await get('/v1/indexes/products/history?limit=5', keys.admin)).json();
    assert.equal(history.operations[0].id, operation.id);
    assert.equal(history.operations[0].state, 'succeeded');
    assert.equal(history.operations[0].requestedBy, 'bob');
    const metrics = (await get('/metrics', keys.admin)).body;
    assert.match(metrics, /vectorsync_index_operation_running\{collection="products"\} 0/);
    assert.doesNotMatch(metrics, /vectorsync_index_build_progress_ratio\{/);
  });
});

describe('index operations on a store that does not support them', () => {
  it('says so clearly (the embedded demo: PGlite is a single session)', async () => {
    const db = await PgliteDatabase.create();
    const state = await bootstrapDemo({
      db,
      logger: silentLogger,
      products: 20,
      port: 0,
      host: '127.0.0.1',
      embedder: 'hash',
    });
    try {
      const ops = new IndexOperations(state.runtime);
      await assert.rejects(ops.build({ collection: 'products', tenant: 'demo' }), (error) => {
        assert.ok(isVectorsyncError(error, ErrorCode.IndexOpsUnsupported));
        assert.match(error.message, /does not support index operations/);
        return true;
      });
      const status = await ops.status('products');
      assert.equal(status.supported, false);
      assert.match(status.message ?? '', /does not support index operations/);
    } finally {
      await state.runtime.close();
      await db.close();
    }
  });
});
