import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { BuildTimeModel } from '../src/indexops/build-time-model.js';
import { IndexOperations } from '../src/indexops/index-operations.js';
import type { LogFields, Logger } from '../src/logger.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import { buildPhase, holdWriter, indexOpsConfig, seededRuntime } from './helpers/index-ops-fixture.js';
import { insertProducts, outboxDrained, products } from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

/** Keeps every structured log line, to check what operators and log pipelines get. */
function capturingLogger(
  lines: Array<{ level: string; message: string; fields: LogFields }>,
  base: LogFields = {},
): Logger {
  const log =
    (level: string) =>
    (fields: LogFields, message: string): void => {
      lines.push({ level, message, fields: { ...base, ...fields } });
    };
  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (fields) => capturingLogger(lines, { ...base, ...fields }),
  };
}

describe('rehearsal: current rows, a fitted model, and builds that compare against it', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let ops: IndexOperations;
  let location: string;
  const logs: Array<{ level: string; message: string; fields: LogFields }> = [];

  before(async () => {
    testDb = await createTestDatabase('index_rehearsal');
    runtime = await seededRuntime(testDb, indexOpsConfig(testDb, { slowFactor: 1.5 }, 64), {
      acme: 2500,
      globex: 800,
      initech: 300,
    });
    ops = new IndexOperations(runtime, capturingLogger(logs));
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

  it('builds at several sample sizes of the current rows, fits n·log n and predicts the full build, recording when and on how many rows', async () => {
    const operation = await ops.rehearse({ collection: 'products', sizes: [600, 1200, 2400] });
    assert.equal(operation.state, 'succeeded', operation.error ?? '');
    const result = operation.result as {
      points: Array<{ rows: number; seconds: number; indexBytes: number }>;
      model: BuildTimeModel;
      predictedSeconds: number;
      predictedForRows: number;
      tableRows: number;
      sampledRows: number;
      ranAt: string;
      predictedIndexBytes: number;
      memory: { graphBytesEstimate: number; fits: boolean; maintenanceWorkMem: string };
    };
    assert.deepEqual(
      result.points.map((point) => point.rows),
      [600, 1200, 2400],
    );
    assert.ok(result.points.every((point) => point.seconds > 0 && point.indexBytes > 0));
    assert.equal(result.model.basis, 'n log n');
    assert.equal(result.tableRows, 3600, 'rehearsed against the table as it is now');
    assert.equal(result.predictedForRows, 3600);
    assert.equal(result.sampledRows, 2400);
    assert.ok(result.predictedSeconds > 0);
    assert.ok(Date.now() - Date.parse(result.ranAt) < 600_000);
    assert.ok(result.predictedIndexBytes > result.points.at(-1)!.indexBytes, 'the full index is larger');
    assert.equal(result.memory.maintenanceWorkMem, '64MB');
    assert.equal(result.memory.fits, true);
    assert.deepEqual(await scratchTables(), [], 'samples are dropped');
    const status = await ops.status('products');
    assert.equal(status.rehearsal?.id, operation.id);
    assert.equal(status.rehearsal?.tableRows, 3600);
  });

  it('gives later builds their expected duration and deadline, and warns when the table has grown well past the rehearsal', async () => {
    const rehearsal = await ops.rehearse({
      collection: 'products',
      tenant: 'globex',
      sizes: [200, 400, 800],
    });
    assert.equal(rehearsal.state, 'succeeded', rehearsal.error ?? '');
    // globex doubles after the rehearsal.
    await insertProducts(
      testDb.db,
      'globex',
      products(800, 99).map((item, i) => ({ ...item, article_id: `globex-new-${i}` })),
    );
    const worker = new OutboxWorker({ runtime });
    await worker.start();
    await waitFor(() => outboxDrained(testDb.db), { message: 'the new rows to be indexed' });
    await worker.stop();

    const operation = await ops.build({ collection: 'products', tenant: 'globex' });
    assert.equal(operation.state, 'succeeded', operation.error ?? '');
    const criteria = operation.criteria as {
      rehearsalId: number;
      expectedSeconds: number;
      deadlineSource: string;
    };
    assert.equal(criteria.rehearsalId, rehearsal.id);
    assert.ok(criteria.expectedSeconds > 0);
    assert.equal(criteria.deadlineSource, 'rehearsal');
    const grew = operation.warnings.find((warning) => warning.code === 'table_grew_since_rehearsal');
    assert.ok(grew, JSON.stringify(operation.warnings));
    assert.match(grew.message, /from 800 rows .* to 1600 \(\+100%\)/);
  });

  it('reports a build slower than its rehearsal predicted in status, progress and logs, long before it ends', async () => {
    const rehearsal = await ops.rehearse({
      collection: 'products',
      tenant: 'initech',
      sizes: [100, 200, 300],
    });
    assert.equal(rehearsal.state, 'succeeded', rehearsal.error ?? '');
    // A writer holds the table: the build cannot start loading rows, so it falls behind the prediction.
    const release = await holdWriter(testDb, location);
    const building = ops.build({ collection: 'products', tenant: 'initech' });
    try {
      const slow = await waitFor(
        async () => {
          const status = await ops.status('products');
          return status.running?.warnings.some((warning) => warning.code === 'slower_than_predicted')
            ? status
            : undefined;
        },
        { message: 'the slower-than-predicted warning in status' },
      );
      assert.equal(await buildPhase(testDb, location), 'waiting for writers before build', 'still running');
      assert.equal(slow.running?.progress?.slowerThanPredicted, true);
      assert.ok((slow.running?.progress?.expectedSeconds ?? 0) > 0);
    } finally {
      await release();
    }
    const operation = await building;
    assert.equal(operation.state, 'succeeded', operation.error ?? '');
    assert.ok(operation.warnings.some((warning) => warning.code === 'slower_than_predicted'));
    const warned = logs.find(
      (line) =>
        line.level === 'warn' &&
        line.fields.warning === 'slower_than_predicted' &&
        line.fields.operation === operation.id,
    );
    assert.ok(warned, 'a structured warning was logged');
    const progressLines = logs.filter(
      (line) => line.message === 'index build progress' && line.fields.operation === operation.id,
    );
    assert.ok(progressLines.some((line) => line.fields.slowerThanPredicted === true));
    assert.ok(progressLines.some((line) => line.fields.phase === 'done' && line.fields.percent === 100));
    assert.ok(
      progressLines.every((line) => typeof line.fields.rowsTotal === 'number' && 'etaSeconds' in line.fields),
    );
  });
});
