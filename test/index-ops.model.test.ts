import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseDuration } from '../src/config/duration.js';
import { type AbortCriteria, checkAbortCriteria } from '../src/indexops/abort-criteria.js';
import { annIndexName, resolveAnnParams } from '../src/indexops/ann-params.js';
import { type ProgressSample, progressFraction } from '../src/indexops/build-progress.js';
import {
  estimateHnswGraphBytes,
  fitBuildTimeModel,
  parseMemorySetting,
  predictSeconds,
} from '../src/indexops/build-time-model.js';
import { ProgressTracker } from '../src/indexops/progress-tracker.js';

describe('index operation arithmetic (no database)', () => {
  it('fits n·log n exactly when the points follow it, and predicts beyond them', () => {
    const truth = (n: number) => 0.5 + 2e-6 * n * Math.log(n);
    const model = fitBuildTimeModel(
      [5000, 10_000, 20_000].map((rows) => ({ rows, seconds: truth(rows) })),
      'hnsw',
    );
    assert.equal(model.basis, 'n log n');
    assert.ok(Math.abs(model.intercept - 0.5) < 1e-9);
    assert.ok(Math.abs(model.r2 - 1) < 1e-12);
    assert.ok(Math.abs(predictSeconds(model, 300_000) - truth(300_000)) < 1e-6);
    // A linear model would under-predict this growth.
    const linear = fitBuildTimeModel(
      [5000, 10_000, 20_000].map((rows) => ({ rows, seconds: truth(rows) })),
      'ivfflat',
    );
    assert.equal(linear.basis, 'n');
    assert.ok(predictSeconds(linear, 300_000) < truth(300_000));
  });

  it('refits through the origin instead of predicting with a negative intercept', () => {
    const model = fitBuildTimeModel(
      [
        { rows: 1000, seconds: 0.01 },
        { rows: 2000, seconds: 0.5 },
        { rows: 3000, seconds: 1.1 },
      ],
      'hnsw',
    );
    assert.equal(model.intercept, 0);
    assert.ok(predictSeconds(model, 10) >= 0);
  });

  it("estimates pgvector's in-memory graph and reads Postgres memory settings", () => {
    // 300k 384-d vectors at m=16: about 2.3 kB each.
    const bytes = estimateHnswGraphBytes(300_000, 384, 16);
    assert.ok(bytes > 600 * 1024 ** 2 && bytes < 800 * 1024 ** 2, String(bytes));
    assert.ok(estimateHnswGraphBytes(1000, 384, 32) > estimateHnswGraphBytes(1000, 384, 16));
    // halfvec halves the vector part (768 of 1,544 bytes), not the graph's links.
    const half = estimateHnswGraphBytes(300_000, 384, 16, 2);
    assert.equal(bytes - half, 300_000 * 768);
    assert.equal(parseMemorySetting('512MB'), 512 * 1024 ** 2);
    assert.equal(parseMemorySetting('2GB'), 2 * 1024 ** 3);
    assert.equal(parseMemorySetting('65536kB'), 64 * 1024 ** 2);
    assert.equal(parseMemorySetting('lots'), undefined);
  });

  it('parses and formats durations', () => {
    assert.equal(parseDuration('30m'), 1_800_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('soon'), undefined);
    assert.equal(parseDuration('30'), undefined);
    assert.equal(formatDuration(59_600), '1m00s');
    assert.equal(formatDuration(3_725_000), '1h02m');
  });

  it('maps the phases of CREATE INDEX CONCURRENTLY onto one growing fraction', () => {
    const sample = (phase: string, counters: Partial<ProgressSample> = {}): ProgressSample => ({
      phase,
      blocksTotal: 0,
      blocksDone: 0,
      tuplesTotal: 0,
      tuplesDone: 0,
      lockersTotal: 0,
      lockersDone: 0,
      workers: 0,
      ...counters,
    });
    const sequence = [
      sample('initializing'),
      sample('waiting for writers before build', { lockersTotal: 2, lockersDone: 1 }),
      sample('building index: loading tuples', { blocksTotal: 100, blocksDone: 0 }),
      sample('building index: loading tuples', { blocksTotal: 100, blocksDone: 50, tuplesDone: 2500 }),
      sample('building index: loading tuples', { blocksTotal: 100, blocksDone: 100, tuplesDone: 5000 }),
      sample('waiting for writers before validation'),
      sample('index validation: scanning index', { blocksTotal: 10, blocksDone: 5 }),
      sample('index validation: sorting tuples'),
      sample('index validation: scanning table', { blocksTotal: 100, blocksDone: 90 }),
      sample('waiting for old snapshots', { lockersTotal: 1 }),
    ];
    const fractions = sequence.map((s) =>
      progressFraction(s, { method: 'hnsw', concurrent: true, rowsTotal: 5000 }),
    );
    for (let i = 1; i < fractions.length; i++)
      assert.ok(fractions[i]! >= fractions[i - 1]!, String(fractions));
    assert.ok(fractions.every((fraction) => fraction !== undefined && fraction < 1));
    assert.equal(
      progressFraction(sample('something new'), { method: 'hnsw', concurrent: true, rowsTotal: 1 }),
      undefined,
    );
  });

  it('measures the rate over a recent window and flags a build projected beyond slowFactor × expected', () => {
    let now = 0;
    const tracker = new ProgressTracker({
      method: 'hnsw',
      concurrent: false,
      rowsTotal: 6000,
      expectedSeconds: 10,
      slowFactor: 1.5,
      now: () => now,
    });
    const loading = (blocksDone: number, tuplesDone: number): ProgressSample => ({
      phase: 'building index: loading tuples',
      blocksTotal: 600,
      blocksDone,
      tuplesTotal: 0,
      tuplesDone,
      lockersTotal: 0,
      lockersDone: 0,
      workers: 0,
    });
    now = 1000;
    tracker.update(loading(60, 600));
    now = 3000;
    const onTime = tracker.update(loading(180, 1800));
    assert.equal(onTime.rowsPerMinute, 36_000);
    assert.equal(onTime.slowerThanPredicted, false);
    now = 9000;
    const late = tracker.update(loading(200, 2000));
    assert.ok(late.etaSeconds !== null && late.etaSeconds > 10);
    assert.equal(late.slowerThanPredicted, true);
    assert.equal(tracker.done().fraction, 1);
  });

  it('judges a minimum rate only after its grace period and while rows remain', () => {
    const criteria: AbortCriteria = {
      deadlineAt: null,
      deadlineSource: null,
      minRowsPerMinute: 1000,
      minRateGraceSeconds: 60,
      expectedSeconds: null,
      rehearsalId: null,
      slowFactor: 1.5,
    };
    const progress = {
      phase: 'building index: loading tuples',
      fraction: 0.5,
      rowsDone: 10,
      rowsTotal: 100,
      blocksDone: 1,
      blocksTotal: 2,
      rowsPerMinute: 10,
      etaSeconds: null,
      elapsedSeconds: 30,
      workers: 0,
      expectedSeconds: null,
      slowerThanPredicted: false,
    };
    assert.equal(checkAbortCriteria(criteria, progress, Date.now()), undefined, 'in the grace period');
    assert.equal(
      checkAbortCriteria(criteria, { ...progress, elapsedSeconds: 61 }, Date.now())?.code,
      'min-rate',
    );
    assert.equal(
      checkAbortCriteria(criteria, { ...progress, elapsedSeconds: 61, rowsDone: 100 }, Date.now()),
      undefined,
      'validation phases load no rows',
    );
    assert.equal(
      checkAbortCriteria(
        { ...criteria, deadlineAt: Date.now() - 1, deadlineSource: 'declared' },
        progress,
        Date.now(),
      )?.code,
      'deadline',
    );
  });

  it('validates index parameters against pgvector limits, naming the value', () => {
    const defaults = { m: 16, efConstruction: 64 };
    assert.deepEqual(resolveAnnParams({}, defaults, 1000, ['hnsw', 'ivfflat']), {
      method: 'hnsw',
      m: 16,
      efConstruction: 64,
    });
    assert.deepEqual(resolveAnnParams({ method: 'ivfflat' }, defaults, 250_000, ['hnsw', 'ivfflat']), {
      method: 'ivfflat',
      lists: 250,
    });
    assert.throws(
      () => resolveAnnParams({ m: 40, efConstruction: 64 }, defaults, 1, ['hnsw']),
      /at least 2 × m \(80\)/,
    );
    assert.throws(
      () => resolveAnnParams({ method: 'diskann' }, defaults, 1, ['hnsw']),
      /unknown index method "diskann"/,
    );
    assert.throws(
      () => resolveAnnParams({ method: 'ivfflat' }, defaults, 1, ['hnsw']),
      /cannot build ivfflat/,
    );
    const long = annIndexName(
      {
        schema: 'vectorsync',
        name: `idx_${'x'.repeat(40)}_123456789`,
        qualified: '',
        vectorColumn: '',
        vectorType: 'vector',
        tenantColumn: '',
        idColumn: '',
        dimensions: 1,
      },
      987654,
    );
    assert.ok(long.length <= 63 && long.endsWith('_ann987654'), long);
  });
});
