import { formatDuration, parseDuration } from '../config/duration.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import type { AbortCriteria } from './abort-criteria.js';
import type { AnnParams } from './ann-params.js';
import { type BuildTimeModel, predictSeconds } from './build-time-model.js';
import type { IndexOpsTarget } from './index-ops-target.js';
import { latestRehearsal } from './operation-history.js';

export interface CriteriaInput {
  tenant: string | null;
  params: AnnParams;
  concurrent: boolean;
  rows: number;
  /** e.g. "30m"; overrides the rehearsal-derived and default deadlines. */
  deadline?: string;
  /** Rows per minute. */
  minRate?: number;
}

export interface PlannedCriteria {
  criteria: AbortCriteria;
  /** Said before the operation starts, and recorded with it. */
  warnings: Array<{ code: string; message: string }>;
}

/**
 * The abort criteria of an operation, fixed before it starts: the declared deadline (else
 * deadlineFactor × the rehearsal's prediction, else indexOps.defaultDeadline), the declared
 * minimum rate, and the expected duration from the newest rehearsal of the same index, with
 * warnings when that rehearsal no longer describes the table.
 */
export async function planCriteria(target: IndexOpsTarget, input: CriteriaInput): Promise<PlannedCriteria> {
  const { config } = target;
  const warnings: PlannedCriteria['warnings'] = [];
  let declared: number | undefined;
  if (input.deadline !== undefined) {
    declared = parseDuration(input.deadline);
    if (declared === undefined || declared <= 0)
      throw new VectorsyncError(
        ErrorCode.InvalidRequest,
        `deadline "${input.deadline}" is not a duration such as "90s", "30m" or "1h30m"`,
        { details: { deadline: input.deadline } },
      );
  }
  if (input.minRate !== undefined && !(Number.isFinite(input.minRate) && input.minRate > 0))
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `min-rate must be a positive number of rows per minute (got ${input.minRate})`,
      { details: { minRate: input.minRate } },
    );

  const rehearsal = await latestRehearsal(target.db, {
    collection: target.collection,
    tenant: input.tenant,
    params: input.params,
    concurrent: input.concurrent,
    settings: { maintenanceWorkMem: config.maintenanceWorkMem, parallelWorkers: config.parallelWorkers },
  });
  let expectedSeconds: number | null = null;
  if (rehearsal) {
    const model = rehearsal.result.model as BuildTimeModel | undefined;
    const rehearsedRows = Number(rehearsal.result.tableRows ?? rehearsal.rowsAtStart ?? 0);
    if (model) expectedSeconds = Math.max(0, predictSeconds(model, input.rows));
    if (rehearsedRows > 0 && input.rows > rehearsedRows * config.rehearsal.growthWarningFactor) {
      warnings.push({
        code: 'table_grew_since_rehearsal',
        message: `the table has grown from ${rehearsedRows} rows (rehearsal #${rehearsal.id} on ${rehearsal.startedAt.toISOString()}) to ${input.rows} (+${Math.round((input.rows / rehearsedRows - 1) * 100)}%); the prediction extrapolates beyond what was rehearsed: run \`vectorsync index rehearse\` again`,
      });
    }
    const ageHours = (Date.now() - rehearsal.startedAt.getTime()) / 3_600_000;
    if (ageHours > config.rehearsal.maxAgeHours) {
      warnings.push({
        code: 'rehearsal_stale',
        message: `the newest rehearsal (#${rehearsal.id}) is ${Math.round(ageHours)} hours old (limit ${config.rehearsal.maxAgeHours}); rehearse on current data`,
      });
    }
  } else {
    warnings.push({
      code: 'no_rehearsal',
      message: `no rehearsal of this index (${input.tenant === null ? 'whole collection' : `tenant ${input.tenant}`}, same parameters, mode and settings): there is no expected duration to compare progress with; run \`vectorsync index rehearse\` first`,
    });
  }

  let deadlineAt: number | null = null;
  let deadlineSource: AbortCriteria['deadlineSource'] = null;
  if (declared !== undefined) {
    deadlineAt = Date.now() + declared;
    deadlineSource = 'declared';
  } else if (expectedSeconds !== null) {
    deadlineAt = Date.now() + Math.max(60_000, expectedSeconds * 1000 * config.deadlineFactor);
    deadlineSource = 'rehearsal';
  } else {
    deadlineAt = Date.now() + parseDuration(config.defaultDeadline)!;
    deadlineSource = 'default';
  }
  if (expectedSeconds !== null && deadlineAt - Date.now() < expectedSeconds * 1000) {
    warnings.push({
      code: 'deadline_before_expected_end',
      message: `the deadline (${formatDuration(deadlineAt - Date.now())}) is shorter than the predicted duration (${formatDuration(expectedSeconds * 1000)}): the build will most likely be aborted`,
    });
  }
  return {
    criteria: {
      deadlineAt,
      deadlineSource,
      minRowsPerMinute: input.minRate ?? null,
      minRateGraceSeconds: config.minRateGraceSeconds,
      expectedSeconds,
      rehearsalId: rehearsal?.id ?? null,
      slowFactor: config.slowFactor,
    },
    warnings,
  };
}
