import { ErrorCode, VectorsyncError } from '../errors.js';
import { indexesInScope, listAnnIndexes } from './ann-index-catalog.js';
import { annIndexName, describeAnnParams, sameAnnParams } from './ann-params.js';
import { runIndexBuild } from './build-runner.js';
import type { IndexOpsTarget } from './index-ops-target.js';
import type { IndexOperation } from './operation-history.js';
import {
  type IndexOperationRequest,
  newOperation,
  type PreparedOperation,
  prepareOperation,
} from './operation-request.js';
import { OperationRun } from './operation-run.js';
import { measureRecall, sampleRecallQueries } from './recall-check.js';

/**
 * Builds an ANN index for a scope that has none yet (a per-tenant partial index, or the
 * collection's index after it was dropped): concurrently unless a blocking build was asked
 * for with a reason, watched, with the declared abort criteria. A scope that already has an
 * index is changed with a blue/green rebuild instead. Returns the recorded operation.
 */
export async function buildIndex(
  target: IndexOpsTarget,
  request: IndexOperationRequest,
): Promise<IndexOperation> {
  const prepared = await prepareOperation(target, request, 'build');
  const existing = indexesInScope(await listAnnIndexes(target.support.db, target.table), prepared.tenant);
  const same = existing.find((index) => index.valid && sameAnnParams(index.params, prepared.params));
  const other = existing.find((index) => index.valid || index.building);
  if (same || other) {
    const index = same ?? other!;
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `${scopeName(prepared)} already has ${index.valid ? 'the' : 'a building'} index ${index.name} (${describeAnnParams(index.params)}); ${same ? 'nothing to build' : `to change it to ${describeAnnParams(prepared.params)} use \`vectorsync index rebuild\` (blue/green)`}`,
      { details: { collection: target.collection, tenant: prepared.tenant, index: index.name } },
    );
  }
  const run = await OperationRun.start(
    target.db,
    newOperation(target, request, prepared, 'build'),
    target.logger,
    {
      pollIntervalMs: target.config.pollIntervalMs,
      logIntervalMs: target.config.logIntervalMs,
    },
  );
  try {
    for (const warning of prepared.planned.warnings) run.warn(warning.code, warning.message);
    request.onStart?.(run, prepared);
    const indexName = annIndexName(target.table, run.id);
    await run.step('building', { indexName });
    const outcome = await runIndexBuild({
      support: target.support,
      table: target.table,
      indexName,
      params: prepared.params,
      tenant: prepared.tenant,
      concurrent: prepared.concurrent,
      settings: prepared.settings,
      rowsTotal: prepared.rows,
      criteria: prepared.planned.criteria,
      run,
      label: 'build',
      pollIntervalMs: target.config.pollIntervalMs,
    });
    const build = {
      seconds: outcome.durationMs / 1000,
      settingsUsed: outcome.settingsUsed,
      notices: outcome.notices,
      droppedInvalidIndex: outcome.droppedInvalidIndex,
    };
    await run.record({ settings: { used: outcome.settingsUsed } });
    if (!outcome.ok) {
      return await run.finish(outcome.abortReason !== undefined ? 'aborted' : 'failed', {
        result: { build },
        errorCode: outcome.error!.code,
        error: outcome.error!.message,
      });
    }
    await run.step('measuring recall');
    const queries = await sampleRecallQueries({
      support: target.support,
      table: target.table,
      tenant: prepared.tenant,
      queries: target.config.verifyQueries,
      rows: prepared.rows,
    });
    const recall = await measureRecall({ support: target.support, table: target.table, queries });
    if (recall.recall < target.config.recallFloor)
      run.warn(
        'recall_below_floor',
        `recall@10 of ${scopeName(prepared)} is ${recall.recall.toFixed(3)}, below indexOps.recallFloor ${target.config.recallFloor}`,
      );
    return await run.finish('succeeded', { result: { build, recall } });
  } catch (error) {
    await run.finish('failed', {
      errorCode: (error as VectorsyncError).code ?? ErrorCode.Internal,
      error: (error as Error).message,
    });
    throw error;
  }
}

export function scopeName(prepared: Pick<PreparedOperation, 'tenant'>): string {
  return prepared.tenant === null ? 'the collection' : `tenant "${prepared.tenant}"`;
}
