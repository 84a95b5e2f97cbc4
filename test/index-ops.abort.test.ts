import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, isVectorsyncError } from '../src/errors.js';
import { IndexOperations } from '../src/indexops/index-operations.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { CHILD_PROCESS_WAIT_MS } from './helpers/child-processes.js';
import { runCli, startCli } from './helpers/cli-process.js';
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

describe('index build abort: by an operator, by its criteria, and after a crash', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let ops: IndexOperations;
  let location: string;
  let serving: string;

  before(async () => {
    testDb = await createTestDatabase('index_abort');
    runtime = await seededRuntime(testDb, indexOpsConfig(testDb, {}, 64), {
      acme: 3000,
      globex: 1000,
      initech: 500,
    });
    ops = new IndexOperations(runtime);
    location = runtime.activeTarget('products').record.location;
    serving = `${location}_hnsw`;
  });

  after(async () => {
    await runtime.close();
    await testDb.drop();
  });

  /** The index serving searches before any of this is still there and valid; nothing invalid is left. */
  async function assertOnlyServingIndexLeft(): Promise<void> {
    const indexes = await annIndexNames(testDb, location);
    assert.deepEqual(
      indexes.map((index) => [index.name, index.valid]),
      [[serving, true]],
      `left: ${JSON.stringify(indexes)}`,
    );
  }

  /** Builds wait for the held writer (deterministically mid-build) until it is released. */
  async function waitingBuild(): Promise<void> {
    await waitFor(async () => (await buildPhase(testDb, location)) === 'waiting for writers before build', {
      message: 'the build to be under way',
    });
    const indexes = await annIndexNames(testDb, location);
    assert.ok(
      indexes.some((index) => !index.valid),
      'the concurrent build has put its (invalid) index in the catalog',
    );
  }

  it('an abort from another process cancels the build, drops its invalid index, and the old index serves throughout', async () => {
    const release = await holdWriter(testDb, location);
    const probe = new SearchProbe(testDb, runtime.config);
    await probe.start();
    const building = ops.build({ collection: 'products', tenant: 'acme', requestedBy: 'alice' });
    let aborter: Awaited<ReturnType<typeof startCli>> | undefined;
    try {
      await waitingBuild();
      aborter = await startCli(
        runtime.config,
        ['index', 'abort', '-c', 'products', '--reason', 'wrong parameters'],
        { VECTORSYNC_ACTOR: 'oncall@ops' },
      );
      // The cancel ends the CREATE INDEX; its invalid index is then dropped CONCURRENTLY, which
      // waits for transactions holding the table, so the writer is released once the build stopped.
      // Includes the aborting CLI's start.
      await waitFor(async () => (await buildPhase(testDb, location)) === undefined, {
        timeoutMs: CHILD_PROCESS_WAIT_MS,
        message: () => `the abort to cancel the build: ${aborter?.output()}`,
      });
    } finally {
      await release();
    }
    const operation = await building;
    assert.equal(await aborter!.exited, 0, aborter!.output());
    assert.match(
      aborter!.stdout(),
      /aborted: aborted by oncall@ops: wrong parameters; its index .* was dropped/,
    );
    const stats = await probe.stop();

    assert.equal(operation.state, 'aborted');
    assert.equal(operation.abortReason, 'aborted by oncall@ops: wrong parameters');
    assert.equal(operation.errorCode, ErrorCode.IndexBuildAborted);
    assert.equal((operation.result.build as { droppedInvalidIndex: boolean }).droppedInvalidIndex, true);
    await assertOnlyServingIndexLeft();
    assert.deepEqual(stats.errors, [], 'no search failed');
    assert.deepEqual(stats.lockWaits, [], 'no search waited on a lock');
    assert.ok(stats.searches > 0);
    const [latest] = await ops.history({ collection: 'products', limit: 1 });
    assert.equal(latest?.id, operation.id);
    assert.equal(latest?.requestedBy, 'alice');
  });

  it('aborts on a breached deadline and on a breached minimum rate, declared before the start', async () => {
    for (const [criterion, expected] of [
      [{ deadline: '1s' }, /^deadline: deadline passed .*declared/],
      [
        { minRate: 1_000_000_000 },
        /^min-rate: rate 0 rows\/min is below the declared minimum of 1000000000 rows\/min/,
      ],
    ] as const) {
      const release = await holdWriter(testDb, location);
      const building = ops.build({ collection: 'products', tenant: 'globex', ...criterion });
      try {
        await waitingBuild();
        await waitFor(async () => (await buildPhase(testDb, location)) === undefined, {
          timeoutMs: 30_000,
          message: `the ${JSON.stringify(criterion)} criterion to stop the build`,
        });
      } finally {
        await release();
      }
      const operation = await building;
      assert.equal(operation.state, 'aborted', JSON.stringify(criterion));
      assert.match(operation.abortReason ?? '', expected);
      const criteria = operation.criteria as { deadlineSource: string; minRowsPerMinute: number | null };
      if ('deadline' in criterion) assert.equal(criteria.deadlineSource, 'declared');
      else assert.equal(criteria.minRowsPerMinute, 1_000_000_000);
      await assertOnlyServingIndexLeft();
    }
  });

  it('a build process killed mid-build leaves an invalid index that the next command detects and cleans up', async () => {
    const release = await holdWriter(testDb, location);
    let builder: Awaited<ReturnType<typeof startCli>> | undefined;
    let backendPid = 0;
    try {
      builder = await startCli(runtime.config, ['index', 'build', '-c', 'products', '--tenant', 'initech']);
      await waitFor(async () => (await buildPhase(testDb, location)) === 'waiting for writers before build', {
        timeoutMs: CHILD_PROCESS_WAIT_MS,
        message: () => `the CLI build to be under way: ${builder?.output()}`,
      });
      const running = (await ops.status('products')).running;
      assert.ok(running, 'the operation is recorded as running');
      const row = await testDb.db.query<{ pid: number }>(
        'SELECT backend_pid AS pid FROM vectorsync.index_operations WHERE id = $1',
        [running.id],
      );
      backendPid = row.rows[0]!.pid;
      builder.child.kill('SIGKILL');
      assert.equal(await builder.exited, null, 'killed, not exited');
      // client_connection_check_interval makes the orphaned backend notice its client is gone.
      await waitFor(
        async () =>
          (await testDb.db.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [backendPid])).rowCount ===
          0,
        { message: 'the build backend of the killed process to end' },
      );
    } finally {
      // A failed wait must not leave the builder running (it would outlive the test's database).
      if (builder && builder.child.exitCode === null && builder.child.signalCode === null) {
        builder.child.kill('SIGKILL');
        await builder.exited;
      }
      await release();
    }
    const invalid = (await annIndexNames(testDb, location)).filter((index) => !index.valid);
    assert.equal(invalid.length, 1, 'the crash left an invalid index');

    const stale = await waitFor(
      async () => {
        const status = await ops.status('products');
        return status.running && !status.running.ownerAlive ? status : undefined;
      },
      { message: 'the owner to be presumed dead' },
    );
    assert.ok(stale.problems.some((problem) => /invalid index .* interrupted build/.test(problem)));
    assert.ok(stale.problems.some((problem) => /has not heartbeated/.test(problem)));

    const next = await runCli(runtime.config, ['index', 'status', '-c', 'products']);
    assert.equal(next.code, 0, next.output);
    assert.match(
      next.stdout,
      /cleaned up interrupted operation #\d+ \(build, now crashed\): dropped the invalid index/,
    );
    const [operation] = await ops.history({ collection: 'products', limit: 1 });
    assert.equal(operation?.state, 'crashed');
    assert.equal(operation?.errorCode, ErrorCode.IndexOperationInterrupted);
    const recovery = operation?.result.recovery as { droppedIndexes: string[] };
    assert.deepEqual(recovery.droppedIndexes, [invalid[0]!.name]);
    await assertOnlyServingIndexLeft();
    assert.equal((await ops.status('products')).running, null);
    await assert.rejects(ops.abort({ collection: 'products' }), (error) => {
      assert.ok(isVectorsyncError(error, ErrorCode.IndexOperationNotFound));
      assert.match(error.message, /no index operation is running on collection "products"/);
      return true;
    });
  });
});
