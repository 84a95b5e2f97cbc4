import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../src/config/resolve-config.js';
import { ErrorCode } from '../src/errors.js';
import { IndexOperations } from '../src/indexops/index-operations.js';
import type { RecallResult } from '../src/indexops/recall-check.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import {
  annIndexNames,
  buildPhase,
  holdWriter,
  indexOpsConfig,
  SearchProbe,
  seededRuntime,
} from './helpers/index-ops-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

describe('blue/green rebuild: verify, then swap, with search answering throughout', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let ops: IndexOperations;
  let location: string;

  before(async () => {
    testDb = await createTestDatabase('index_rebuild');
    runtime = await seededRuntime(testDb, indexOpsConfig(testDb), { acme: 3000, globex: 1500, initech: 500 });
    ops = new IndexOperations(runtime);
    location = runtime.activeTarget('products').record.location;
  });

  after(async () => {
    await runtime.close();
    await testDb.drop();
  });

  async function scratchTables(): Promise<string[]> {
    const result = await testDb.db.query<{ name: string }>(
      `SELECT relname AS name FROM pg_class WHERE relname LIKE 'ixop\\_%' AND relkind = 'r'`,
    );
    return result.rows.map((row) => row.name);
  }

  it('swaps to new parameters under continuous search: verified first, old dropped concurrently, no search fails or waits', async () => {
    let rebuilding = true;
    const probe = new SearchProbe(testDb, runtime.config, () => rebuilding);
    await probe.start();
    const steps: string[] = [];
    const operation = await ops.rebuild({
      collection: 'products',
      m: 24,
      efConstruction: 96,
      onStart: (run) => run.on('step', (step) => steps.push(step)),
    });
    rebuilding = false;
    const stats = await probe.stop();

    assert.equal(operation.state, 'succeeded', operation.error ?? '');
    assert.deepEqual(steps, [
      'measuring current recall',
      'copying rows for verification',
      'building on the verification copy',
      'verifying',
      'building',
      'swapping',
      'verifying after swap',
    ]);
    const indexes = await annIndexNames(testDb, location);
    assert.deepEqual(
      indexes.map((index) => [index.name, index.valid, index.predicate, index.options]),
      [[operation.indexName, true, null, ['m=24', 'ef_construction=96']]],
      'only the new index is left',
    );
    assert.deepEqual(operation.replacedIndexes, [`${location}_hnsw`]);
    const before = operation.result.recallBefore as RecallResult;
    const verification = (operation.result.verification as { recall: RecallResult }).recall;
    const after = operation.result.recallAfter as RecallResult;
    assert.ok(
      before.servedBy[`${location}_hnsw`],
      `the current index answered first: ${JSON.stringify(before)}`,
    );
    assert.ok(
      Object.keys(verification.servedBy).some((name) => name.startsWith('ixop_')),
      `verification ran on the copy's candidate: ${JSON.stringify(verification)}`,
    );
    assert.ok(
      after.servedBy[operation.indexName!],
      `the new index serves after the swap: ${JSON.stringify(after)}`,
    );
    assert.ok(verification.recall >= Math.min(before.recall, runtime.config.indexOps.recallFloor));
    assert.deepEqual(await scratchTables(), [], 'the verification copy is gone');

    assert.deepEqual(stats.errors, [], 'no search failed');
    assert.deepEqual(stats.lockWaits, [], 'no search waited on a lock');
    assert.ok(stats.searchesDuring > 0);

    // setup must not build a second index beside the rebuilt one.
    await setupCollections(runtime);
    assert.equal((await annIndexNames(testDb, location)).length, 1);
  });

  it('keeps the old index when the new one fails verification', async () => {
    // Probing one IVFFlat list out of 200 (22 rows each) cannot reach the current recall.
    const config = parseConfig({
      ...JSON.parse(JSON.stringify(runtime.config)),
      stores: { main: { ...runtime.config.stores.main, ivfflat: { probes: 1 } } },
    });
    const other = await VectorsyncRuntime.open({ config, db: testDb.connect() });
    try {
      const current = await annIndexNames(testDb, location);
      const operation = await new IndexOperations(other).rebuild({
        collection: 'products',
        method: 'ivfflat',
        lists: 200,
      });
      assert.equal(operation.state, 'failed');
      assert.equal(operation.errorCode, ErrorCode.IndexVerificationFailed);
      assert.match(
        operation.error ?? '',
        /reached recall@10 0\.\d+ on the verification copy; it needs at least/,
      );
      assert.deepEqual(await annIndexNames(testDb, location), current, 'the old index is untouched');
      assert.deepEqual(await scratchTables(), []);
    } finally {
      await other.close();
    }
  });

  it('an abort during the live build drops only the candidate; the old index keeps serving', async () => {
    const current = await annIndexNames(testDb, location);
    const probe = new SearchProbe(testDb, runtime.config);
    await probe.start();
    const release = await holdWriter(testDb, location);
    const rebuilding = ops.rebuild({ collection: 'products', m: 16, efConstruction: 64 });
    try {
      await waitFor(async () => (await buildPhase(testDb, location)) === 'waiting for writers before build', {
        timeoutMs: 60_000,
        message: 'the live build to start',
      });
      const aborted = ops.abort({ collection: 'products', reason: 'changed my mind' });
      await waitFor(async () => (await buildPhase(testDb, location)) === undefined, {
        message: 'the cancel to land',
      });
      await release();
      const { operation, honoured } = await aborted;
      assert.ok(honoured);
      assert.equal(operation.state, 'aborted');
    } finally {
      await release();
    }
    const operation = await rebuilding;
    const stats = await probe.stop();
    assert.equal(operation.state, 'aborted');
    assert.match(operation.abortReason ?? '', /changed my mind/);
    assert.deepEqual(await annIndexNames(testDb, location), current, 'the old index is untouched');
    assert.deepEqual(stats.errors, []);
    assert.deepEqual(stats.lockWaits, []);
  });
});
