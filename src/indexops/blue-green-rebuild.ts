import { quoteIdent } from '../db/sql-identifier.js';
import { coerceError, ErrorCode, errorCodeOf, VectorsyncError } from '../errors.js';
import { indexesInScope, listAnnIndexes } from './ann-index-catalog.js';
import { annIndexName, describeAnnParams } from './ann-params.js';
import { type BuildOutcome, runIndexBuild } from './build-runner.js';
import { inCancellableSession, throwIfAborted } from './cancellable-session.js';
import { scopeName } from './index-build.js';
import type { IndexOpsTarget } from './index-ops-target.js';
import type { IndexOperation } from './operation-history.js';
import {
  type IndexOperationRequest,
  newOperation,
  type PreparedOperation,
  prepareOperation,
} from './operation-request.js';
import { OperationRun } from './operation-run.js';
import { measureRecall, type RecallQuery, type RecallResult, sampleRecallQueries } from './recall-check.js';
import { createScratchCopy, dropScratchTables, scratchTable } from './scratch-tables.js';

/** Steps from which a crashed rebuild is finished forward (the new index stays) rather than rolled back. */
export const swapSteps = new Set(['swapping', 'verifying after swap']);

/**
 * Changes a scope's index parameters without a moment of degraded search:
 *
 * 1. recall@10 of what serves searches now, on sampled queries against exact search;
 * 2. the candidate is built on a scratch copy of the scope's current rows and verified there:
 *    its recall must be at least min(current recall, indexOps.recallFloor). Verification uses a
 *    copy because two valid ANN indexes on one column leave the choice to the planner: on the
 *    live table nothing could force the verifying queries onto the new index without locks
 *    or catalog writes, and production searches might use it before it is verified;
 * 3. the candidate is built on the live table under a new name (CONCURRENTLY), beside the old
 *    one, which keeps serving;
 * 4. swap: the old index is dropped CONCURRENTLY (never a lock that waits for or blocks
 *    searches); recall is measured again on the index now serving.
 *
 * An abort or failure before the swap drops only the candidate; the old index is untouched.
 */
export async function rebuildIndex(
  target: IndexOpsTarget,
  request: IndexOperationRequest,
): Promise<IndexOperation> {
  const prepared = await prepareOperation(target, request, 'rebuild');
  const current = indexesInScope(await listAnnIndexes(target.support.db, target.table), prepared.tenant);
  const old = current.filter((index) => index.valid);
  if (old.length === 0) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `${scopeName(prepared)} has no index to rebuild${current.some((index) => index.building) ? ' (one is being built)' : ''}; use \`vectorsync index build\``,
      { details: { collection: target.collection, tenant: prepared.tenant } },
    );
  }
  const run = await OperationRun.start(
    target.db,
    newOperation(target, request, prepared, 'rebuild'),
    target.logger,
    { pollIntervalMs: target.config.pollIntervalMs, logIntervalMs: target.config.logIntervalMs },
  );
  const indexName = annIndexName(target.table, run.id);
  const result: Record<string, unknown> = {
    replaced: old.map((index) => `${index.name} (${describeAnnParams(index.params)})`),
  };
  try {
    for (const warning of prepared.planned.warnings) run.warn(warning.code, warning.message);
    request.onStart?.(run, prepared);
    await run.record({ indexName, replacedIndexes: old.map((index) => index.name) });

    await run.step('measuring current recall');
    const queries = await sampleRecallQueries({
      support: target.support,
      table: target.table,
      tenant: prepared.tenant,
      queries: target.config.verifyQueries,
      rows: prepared.rows,
    });
    const before = await measureRecall({ support: target.support, table: target.table, queries });
    result.recallBefore = before;

    const verification = await verifyOnCopy(target, run, prepared, queries);
    result.verification = verification.summary;
    const required = Math.min(before.recall, target.config.recallFloor);
    if (!verification.outcome.ok)
      return await finishBuildFailure(run, verification.outcome, result, 'verification build');
    if (verification.recall.recall < required) {
      return await run.finish('failed', {
        result,
        errorCode: ErrorCode.IndexVerificationFailed,
        error: `the new index (${describeAnnParams(prepared.params)}) reached recall@10 ${verification.recall.recall.toFixed(3)} on the verification copy; it needs at least ${required.toFixed(3)} (the current index's ${before.recall.toFixed(3)}, or the floor ${target.config.recallFloor}); the current index is untouched`,
      });
    }

    throwIfAborted(run);
    await run.step('building', { indexName });
    const live = await runIndexBuild({
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
    result.build = buildSummary(live);
    await run.record({ settings: { used: live.settingsUsed } });
    if (!live.ok) return await finishBuildFailure(run, live, result, 'build');
    const built = (await listAnnIndexes(target.support.db, target.table)).find(
      (index) => index.name === indexName,
    );
    if (!built?.valid) throw new Error(`the new index ${indexName} is not valid after its build`);

    // The point of no return: from here an abort is refused; a crash is finished forward.
    throwIfAborted(run);
    await run.step('swapping');
    for (const index of old) {
      await target.support.db.query(
        `DROP INDEX CONCURRENTLY IF EXISTS ${quoteIdent(target.table.schema)}.${quoteIdent(index.name)}`,
      );
    }
    await run.step('verifying after swap');
    result.recallAfter = await measureRecall({ support: target.support, table: target.table, queries });
    return await run.finish('succeeded', { result });
  } catch (error) {
    await dropCandidateUnlessSwapped(target, run, indexName).catch(() => undefined);
    const aborted = errorCodeOf(error) === ErrorCode.IndexBuildAborted;
    const finished = await run.finish(aborted ? 'aborted' : 'failed', {
      result,
      errorCode: errorCodeOf(error),
      error: coerceError(error).message,
    });
    if (aborted) return finished;
    throw error;
  }
}

/** Builds the candidate on a scratch copy of the scope's rows and measures its recall there. */
async function verifyOnCopy(
  target: IndexOpsTarget,
  run: OperationRun,
  prepared: PreparedOperation,
  queries: readonly RecallQuery[],
): Promise<{ outcome: BuildOutcome; recall: RecallResult; summary: Record<string, unknown> }> {
  const copy = scratchTable(target.table, run.id, 'verify');
  try {
    await run.step('copying rows for verification');
    const rows = await inCancellableSession(run, target.support, 'index-verify-copy', (session) =>
      createScratchCopy(session, {
        live: target.table,
        scratch: copy,
        sourceRows: prepared.rows,
        tenant: prepared.tenant,
        parallelWorkers: prepared.settings.parallelWorkers,
      }),
    );
    await run.step('building on the verification copy');
    const candidate = annIndexName(copy, run.id);
    // Nobody reads the copy: a plain (faster) build blocks no one.
    const outcome = await runIndexBuild({
      support: target.support,
      table: copy,
      indexName: candidate,
      params: prepared.params,
      tenant: prepared.tenant,
      concurrent: false,
      settings: prepared.settings,
      rowsTotal: rows,
      criteria: { ...prepared.planned.criteria, expectedSeconds: null },
      run,
      label: 'verification build',
      pollIntervalMs: target.config.pollIntervalMs,
    });
    if (!outcome.ok)
      return { outcome, recall: { recall: 0, k: 10, queries: 0, servedBy: {} }, summary: { rows } };
    await run.step('verifying');
    const recall = await measureRecall({ support: target.support, table: copy, queries });
    if (!recall.servedBy[candidate]) {
      throw new VectorsyncError(
        ErrorCode.IndexVerificationFailed,
        `no verification query used the new index on the copy (plans: ${JSON.stringify(recall.servedBy)}); the recall check would not measure it. Is ${scopeName(prepared)} too small for an ANN index to be chosen?`,
        { details: { servedBy: recall.servedBy } },
      );
    }
    return { outcome, recall, summary: { rows, build: buildSummary(outcome), recall } };
  } finally {
    await dropScratchTables(target.support.db, run.id).catch((error) =>
      run.logger.warn({ err: coerceError(error).message }, 'could not drop the verification copy'),
    );
  }
}

function buildSummary(outcome: BuildOutcome): Record<string, unknown> {
  return {
    seconds: outcome.durationMs / 1000,
    settingsUsed: outcome.settingsUsed,
    notices: outcome.notices,
    droppedInvalidIndex: outcome.droppedInvalidIndex,
  };
}

async function finishBuildFailure(
  run: OperationRun,
  outcome: BuildOutcome,
  result: Record<string, unknown>,
  label: string,
): Promise<IndexOperation> {
  return run.finish(outcome.abortReason !== undefined ? 'aborted' : 'failed', {
    result,
    errorCode: outcome.error?.code ?? ErrorCode.IndexBuildFailed,
    error: outcome.error?.message ?? `${label} failed`,
  });
}

async function dropCandidateUnlessSwapped(
  target: IndexOpsTarget,
  run: OperationRun,
  indexName: string,
): Promise<void> {
  const step = run.currentStep;
  if (step !== null && swapSteps.has(step)) return;
  await target.support.db.query(
    `DROP INDEX CONCURRENTLY IF EXISTS ${quoteIdent(target.table.schema)}.${quoteIdent(indexName)}`,
  );
}
