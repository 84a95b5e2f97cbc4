import { quoteIdent } from '../db/sql-identifier.js';
import { coerceError, ErrorCode, errorCodeOf, VectorsyncError } from '../errors.js';
import { annIndexName } from './ann-params.js';
import { runIndexBuild, type SettingsUsed } from './build-runner.js';
import {
  describeModel,
  estimateHnswGraphBytes,
  fitBuildTimeModel,
  formatBytes,
  parseMemorySetting,
  predictSeconds,
  type TimePoint,
} from './build-time-model.js';
import { inCancellableSession } from './cancellable-session.js';
import type { IndexOpsTarget } from './index-ops-target.js';
import type { IndexOperation } from './operation-history.js';
import {
  type IndexOperationRequest,
  newOperation,
  type PreparedOperation,
  prepareOperation,
} from './operation-request.js';
import { OperationRun } from './operation-run.js';
import { createScratchCopy, dropScratchTables, scratchTable } from './scratch-tables.js';

export interface RehearsalRequest extends IndexOperationRequest {
  /** Sample sizes to build at; default: indexOps.rehearsal.steps sizes up to sampleRows. */
  sizes?: number[];
  sampleRows?: number;
}

/**
 * Rehearses a build on the table as it is now: samples the current rows into scratch tables
 * (never an old snapshot), builds the same index with the same settings and mode at a few
 * sample sizes, fits build time against rows (n·log n for HNSW, linear for IVFFlat) and
 * predicts the full build's time, on-disk size and graph memory against maintenance_work_mem.
 * The result (when, on how many rows, the model) is recorded; later builds take their expected
 * duration from it and warn when the table has grown well past it.
 */
export async function rehearseIndex(
  target: IndexOpsTarget,
  request: RehearsalRequest,
): Promise<IndexOperation> {
  const prepared = await prepareOperation(
    target,
    {
      ...request,
      reason:
        request.reason ??
        (request.blocking ? 'rehearsal of a blocking build (scratch tables only)' : undefined),
    },
    'rehearse',
  );
  const sizes = sampleSizes(target, request, prepared.rows);
  const workers = await expectedParallelWorkers(target, prepared);
  const run = await OperationRun.start(
    target.db,
    newOperation(target, request, prepared, 'rehearse'),
    target.logger,
    { pollIntervalMs: target.config.pollIntervalMs, logIntervalMs: target.config.logIntervalMs },
  );
  const result: Record<string, unknown> = { sizes, tableRows: prepared.rows, parallelWorkers: workers };
  try {
    request.onStart?.(run, prepared);
    const sample = scratchTable(target.table, run.id, 'sample');
    await run.step(`sampling ${sizes.at(-1)} of ${prepared.rows} rows`);
    const sampled = await inCancellableSession(run, target.support, 'index-rehearsal-sample', (session) =>
      createScratchCopy(session, {
        live: target.table,
        scratch: sample,
        rows: sizes.at(-1)!,
        sourceRows: prepared.rows,
        tenant: prepared.tenant,
        parallelWorkers: workers,
      }),
    );
    result.sampledRows = sampled;
    result.ranAt = new Date().toISOString();
    const points: Array<TimePoint & { indexBytes: number }> = [];
    let settingsUsed: SettingsUsed | undefined;
    for (const size of sizes.filter((value) => value <= sampled)) {
      const scratch = scratchTable(target.table, run.id, `s${size}`);
      await run.step(`building on ${size} rows`);
      await inCancellableSession(run, target.support, 'index-rehearsal-copy', (session) =>
        createScratchCopy(session, {
          live: target.table,
          from: sample,
          scratch,
          rows: size,
          sourceRows: sampled,
          tenant: null,
          parallelWorkers: workers,
        }),
      );
      const indexName = annIndexName(scratch, run.id);
      const outcome = await runIndexBuild({
        support: target.support,
        table: scratch,
        indexName,
        params: prepared.params,
        tenant: null,
        concurrent: prepared.concurrent,
        settings: prepared.settings,
        rowsTotal: size,
        criteria: prepared.planned.criteria,
        run,
        label: `rehearsal ${size} rows`,
        pollIntervalMs: target.config.pollIntervalMs,
      });
      settingsUsed = outcome.settingsUsed;
      if (!outcome.ok) {
        result.points = points;
        return await run.finish(outcome.abortReason !== undefined ? 'aborted' : 'failed', {
          result,
          errorCode: outcome.error?.code ?? ErrorCode.IndexBuildFailed,
          error: outcome.error?.message ?? 'rehearsal build failed',
        });
      }
      const bytes = await target.support.db.query<{ bytes: string }>(
        `SELECT pg_relation_size(to_regclass($1))::text AS bytes`,
        [`${quoteIdent(scratch.schema)}.${quoteIdent(indexName)}`],
      );
      points.push({
        rows: size,
        seconds: outcome.durationMs / 1000,
        indexBytes: Number(bytes.rows[0]?.bytes ?? 0),
      });
      await target.support.db.query(`DROP TABLE IF EXISTS ${scratch.qualified}`);
    }
    Object.assign(result, predict(target, run, prepared, points, settingsUsed));
    return await run.finish('succeeded', { result });
  } catch (error) {
    const aborted = errorCodeOf(error) === ErrorCode.IndexBuildAborted;
    const finished = await run.finish(aborted ? 'aborted' : 'failed', {
      result,
      errorCode: errorCodeOf(error),
      error: coerceError(error).message,
    });
    if (aborted) return finished;
    throw error;
  } finally {
    await dropScratchTables(target.support.db, run.id).catch(() => undefined);
  }
}

function predict(
  target: IndexOpsTarget,
  run: OperationRun,
  prepared: PreparedOperation,
  points: Array<TimePoint & { indexBytes: number }>,
  settingsUsed: SettingsUsed | undefined,
): Record<string, unknown> {
  const model = fitBuildTimeModel(points, prepared.params.method);
  const largest = points.at(-1)!;
  const predictedSeconds = Math.max(0, predictSeconds(model, prepared.rows));
  const memoryBytes =
    parseMemorySetting(settingsUsed?.maintenanceWorkMem ?? prepared.settings.maintenanceWorkMem) ?? 0;
  const memory: Record<string, unknown> = {
    maintenanceWorkMem: settingsUsed?.maintenanceWorkMem,
    maintenanceWorkMemBytes: memoryBytes,
  };
  if (prepared.params.method === 'hnsw') {
    const graphBytes = estimateHnswGraphBytes(
      prepared.rows,
      target.table.dimensions,
      prepared.params.m,
      target.table.vectorType === 'halfvec' ? 2 : 4,
    );
    const perRow = graphBytes / Math.max(1, prepared.rows);
    Object.assign(memory, {
      graphBytesEstimate: graphBytes,
      fits: graphBytes <= memoryBytes,
      rowsThatFit: Math.floor(memoryBytes / perRow),
    });
    if (graphBytes > memoryBytes) {
      run.warn(
        'graph_exceeds_memory_predicted',
        `the full build's HNSW graph (~${formatBytes(graphBytes)} for ${prepared.rows} rows) will not fit in maintenance_work_mem (${formatBytes(memoryBytes)}): after ~${Math.floor(memoryBytes / perRow)} rows pgvector continues on disk, many times slower than this prediction; raise indexOps.maintenanceWorkMem to at least ${formatBytes(graphBytes * 1.1)}`,
      );
    }
  }
  return {
    points,
    model,
    modelText: describeModel(model),
    predictedSeconds,
    predictedForRows: prepared.rows,
    predictedIndexBytes: Math.round((largest.indexBytes / Math.max(1, largest.rows)) * prepared.rows),
    settingsUsed,
    memory,
  };
}

function sampleSizes(target: IndexOpsTarget, request: RehearsalRequest, rows: number): number[] {
  let sizes = request.sizes;
  if (!sizes) {
    const largest = Math.min(rows, request.sampleRows ?? target.config.rehearsal.sampleRows);
    const steps = target.config.rehearsal.steps;
    sizes = Array.from({ length: steps }, (_, i) => Math.round((largest * (i + 1)) / steps));
  }
  for (const size of sizes) {
    if (!Number.isInteger(size) || size < 2)
      throw new VectorsyncError(
        ErrorCode.InvalidRequest,
        `sample size ${size} must be an integer of at least 2`,
        {
          details: { size },
        },
      );
  }
  const distinct = [...new Set(sizes.map((size) => Math.min(size, rows)))].sort((a, b) => a - b);
  if (distinct.length < 2) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `a rehearsal needs at least two different sample sizes to fit a model (got ${distinct.join(', ') || 'none'} from a scope of ${rows} rows)`,
      { details: { sizes, rows } },
    );
  }
  return distinct;
}

/**
 * The parallel workers the real build will get, pinned on the scratch tables so the small
 * samples are built like the large table: none below min_parallel_table_scan_size, and no
 * more than maintenance_work_mem allows at 32 MB per participant (plan_create_index_workers).
 */
async function expectedParallelWorkers(target: IndexOpsTarget, prepared: PreparedOperation): Promise<number> {
  const result = await target.support.db.query<{ bytes: string; threshold: string }>(
    `SELECT pg_relation_size(to_regclass($1))::text AS bytes, current_setting('min_parallel_table_scan_size') AS threshold`,
    [target.table.qualified],
  );
  const bytes = Number(result.rows[0]?.bytes ?? 0);
  const threshold = parseMemorySetting(result.rows[0]?.threshold ?? '8MB') ?? 8 * 1024 ** 2;
  if (bytes < threshold) return 0;
  const memory = parseMemorySetting(prepared.settings.maintenanceWorkMem) ?? 0;
  let workers = prepared.settings.parallelWorkers;
  while (workers > 0 && memory / (workers + 1) < 32 * 1024 ** 2) workers--;
  return workers;
}
