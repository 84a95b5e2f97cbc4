import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { ErrorCode, isVectorsyncError } from '../src/errors.js';
import type { BuildProgress } from '../src/indexops/build-progress.js';
import { IndexOperations } from '../src/indexops/index-operations.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import {
  annIndexNames,
  buildPhase,
  holdWriter,
  indexOpsConfig,
  SearchProbe,
  seededRuntime,
} from './helpers/index-ops-fixture.js';
import { outboxDrained } from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

describe('index build: concurrent by default, watched, refused when unsafe', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let ops: IndexOperations;
  let location: string;

  before(async () => {
    testDb = await createTestDatabase('index_build');
    runtime = await seededRuntime(testDb, indexOpsConfig(testDb), { acme: 4000, globex: 1500, initech: 500 });
    ops = new IndexOperations(runtime);
    location = runtime.activeTarget('products').record.location;
  });

  after(async () => {
    await runtime.close();
    await testDb.drop();
  });

  it('builds a tenant index CONCURRENTLY while searches and writes go on: no search waits on a lock, progress only grows and reaches 100%', async () => {
    let building = false;
    const probe = new SearchProbe(testDb, runtime.config, () => building);
    await probe.start();
    // Writers on a session that would fail rather than wait long for a lock.
    const writer = new pg.Client({ connectionString: testDb.url, options: '-c lock_timeout=500' });
    await writer.connect();
    const worker = new OutboxWorker({ runtime });
    await worker.start();
    let writes = 0;
    const writeErrors: string[] = [];
    let writing = true;
    const writeLoop = (async () => {
      for (let n = 0; writing; n++) {
        try {
          await writer.query(
            `UPDATE products SET name = 'Refreshed item ' || $1::text WHERE article_id = $2`,
            [n, `globex-${n % 1500}`],
          );
          writes++;
        } catch (error) {
          writeErrors.push((error as Error).message);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();

    const samples: BuildProgress[] = [];
    let buildStartedAt = new Date();
    let buildEndedAt = new Date();
    const operation = await ops.build({
      collection: 'products',
      tenant: 'acme',
      m: 16,
      efConstruction: 200,
      requestedBy: 'test-suite',
      onStart: (run) =>
        run.on('progress', (progress, label) => {
          if (label !== 'build') return;
          if (progress.phase === 'starting') {
            building = true;
            buildStartedAt = new Date();
          }
          samples.push(progress);
          if (progress.phase === 'done') {
            building = false;
            buildEndedAt = new Date();
          }
        }),
    });
    writing = false;
    await writeLoop;
    await writer.end();
    await waitFor(() => outboxDrained(testDb.db), { message: 'writes to be applied' });
    await worker.stop();
    const stats = await probe.stop();

    assert.equal(operation.state, 'succeeded', operation.error ?? '');
    assert.equal(operation.concurrent, true);
    assert.equal(operation.requestedBy, 'test-suite');
    const indexes = await annIndexNames(testDb, location);
    const built = indexes.find((index) => index.name === operation.indexName);
    assert.ok(built?.valid, `the new index is valid: ${JSON.stringify(indexes)}`);
    assert.equal(built.predicate, `(tenant = 'acme'::text)`);
    assert.deepEqual(built.options, ['m=16', 'ef_construction=200']);

    assert.deepEqual(stats.errors, [], 'no search failed');
    assert.deepEqual(stats.lockWaits, [], 'no search backend was ever seen waiting on a lock');
    assert.ok(stats.searchesDuring > 0, 'searches ran during the build');
    assert.deepEqual(writeErrors, [], 'no source write failed');
    const appliedDuring = await testDb.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM vectorsync."${location}" WHERE indexed_at BETWEEN $1 AND $2`,
      [buildStartedAt, buildEndedAt],
    );
    assert.ok(writes > 0 && appliedDuring.rows[0]!.n > 0, 'writes reached the index table during the build');

    const fractions = samples.map((sample) => sample.fraction);
    for (let i = 1; i < fractions.length; i++)
      assert.ok(
        fractions[i]! >= fractions[i - 1]!,
        `progress went back: ${fractions.slice(i - 3, i + 2).join(', ')}`,
      );
    assert.equal(samples.at(-1)?.phase, 'done');
    assert.equal(samples.at(-1)?.fraction, 1);
    const midway = samples.filter(
      (sample) =>
        sample.phase.startsWith('building index') && sample.fraction > 0.02 && sample.fraction < 0.9,
    );
    assert.ok(midway.length > 0, `progress was seen mid-build (${samples.map((s) => s.phase).join(' > ')})`);
    assert.ok(midway.some((sample) => (sample.rowsPerMinute ?? 0) > 0 && sample.rowsDone > 0));
    assert.equal(samples.at(-1)?.rowsDone, 4000);

    const used = operation.settings.used as {
      maintenanceWorkMem: string;
      maxParallelMaintenanceWorkers: number;
    };
    assert.equal(used.maintenanceWorkMem, '64MB');
    assert.equal(used.maxParallelMaintenanceWorkers, 0);
    const recall = operation.result.recall as { servedBy: Record<string, number>; recall: number };
    assert.ok(
      recall.servedBy[operation.indexName!],
      `acme's searches use the new index: ${JSON.stringify(recall)}`,
    );
    const persisted = operation.progress;
    assert.equal(persisted?.phase, 'done', 'the last progress is recorded for other processes');
  });

  it('(control) the probe does catch a search that waits on a lock', async () => {
    const probe = new SearchProbe(testDb, runtime.config);
    await probe.start();
    const locker = new pg.Client({ connectionString: testDb.url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query(`LOCK TABLE vectorsync."${location}" IN ACCESS EXCLUSIVE MODE`);
    // Held until the probe has seen what it must see (held for a fixed 800 ms, a loaded machine
    // could start no search in time for the sampler or for lock_timeout to fire).
    try {
      await waitFor(
        () =>
          probe.seen.lockWaits.length > 0 &&
          probe.seen.errors.some((message) => /lock timeout/.test(message)),
        { timeoutMs: 30_000, message: 'the probe to see a search waiting on the lock and timing out' },
      );
    } finally {
      await locker.query('COMMIT');
      await locker.end();
    }
    const stats = await probe.stop();
    assert.ok(stats.lockWaits.length > 0, 'the sampler saw a probe backend waiting on the lock');
    assert.ok(
      stats.errors.some((message) => /lock timeout/.test(message)),
      `a search hit lock_timeout: ${stats.errors.slice(0, 2).join('; ')}`,
    );
  });

  it('refuses a blocking build without a reason and records nothing; records the reason of one it runs', async () => {
    const before = await ops.history({ collection: 'products' });
    await assert.rejects(ops.build({ collection: 'products', tenant: 'globex', blocking: true }), (error) => {
      assert.ok(isVectorsyncError(error, ErrorCode.BlockingBuildNeedsReason));
      assert.match(error.message, /--reason/);
      return true;
    });
    assert.equal((await ops.history({ collection: 'products' })).length, before.length, 'nothing recorded');
    assert.ok(!(await annIndexNames(testDb, location)).some((index) => index.predicate?.includes('globex')));

    const operation = await ops.build({
      collection: 'products',
      tenant: 'globex',
      blocking: true,
      reason: 'maintenance window, writes paused upstream',
    });
    assert.equal(operation.state, 'succeeded', operation.error ?? '');
    assert.equal(operation.concurrent, false);
    const [latest] = await ops.history({ collection: 'products', limit: 1 });
    assert.equal(latest?.reason, 'maintenance window, writes paused upstream');
    assert.equal(latest?.concurrent, false);
  });

  it('rejects bad parameters naming them, and a second index for a scope that has one', async () => {
    await assert.rejects(ops.build({ collection: 'products', tenant: 'initech', m: 1 }), (error) => {
      assert.ok(isVectorsyncError(error, ErrorCode.InvalidIndexParams));
      assert.match(error.message, /m must be an integer from 2 to 100 \(got 1\)/);
      return true;
    });
    await assert.rejects(
      ops.build({ collection: 'products', tenant: 'initech', method: 'hnsw', lists: 10 }),
      /lists applies to ivfflat/,
    );
    await assert.rejects(ops.build({ collection: 'products', deadline: 'soon' }), /deadline "soon"/);
    await assert.rejects(ops.build({ collection: 'products' }), (error) => {
      assert.ok(isVectorsyncError(error, ErrorCode.InvalidRequest));
      assert.match(error.message, /already has the index .*_hnsw .*nothing to build/);
      return true;
    });
    await assert.rejects(ops.build({ collection: 'products', m: 24, efConstruction: 64 }), /index rebuild/);
  });

  it('keeps setup from queueing a table lock behind a running build (which would stall every search)', async () => {
    const release = await holdWriter(testDb, location);
    const probe = new SearchProbe(testDb, runtime.config);
    await probe.start();
    const building = ops.build({ collection: 'products', tenant: 'initech', method: 'ivfflat', lists: 4 });
    try {
      await waitFor(async () => (await buildPhase(testDb, location)) === 'waiting for writers before build', {
        message: 'the build to wait for the held writer',
      });
      await assert.rejects(ops.rebuild({ collection: 'products', m: 8, efConstruction: 32 }), (error) => {
        assert.ok(isVectorsyncError(error, ErrorCode.IndexOperationRunning), String(error));
        assert.match(error.message, /already has an index operation running: #\d+ build/);
        return true;
      });
      await assert.rejects(setupCollections(runtime), (error) => {
        assert.ok(isVectorsyncError(error, ErrorCode.IndexOperationRunning), String(error));
        assert.match(error.message, /stall every search/);
        return true;
      });
      const before = probe.searches;
      await waitFor(() => probe.searches > before + 20, { message: 'searches to go on' });
    } finally {
      await release();
    }
    const operation = await building;
    const stats = await probe.stop();
    assert.equal(operation.state, 'succeeded', operation.error ?? '');
    assert.deepEqual(stats.errors, []);
    assert.deepEqual(stats.lockWaits, []);
    const ivfflat = (await annIndexNames(testDb, location)).find(
      (index) => index.name === operation.indexName,
    );
    assert.deepEqual(ivfflat?.options, ['lists=4']);
  });
});
