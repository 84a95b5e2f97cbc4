import { ErrorCode, VectorsyncError } from '../errors.js';
import type { AnnParams } from './ann-params.js';
import { resolveAnnParams } from './ann-params.js';
import type { BuildSettings } from './build-runner.js';
import { countScopeRows, defaultActor, type IndexOpsTarget, ownerId } from './index-ops-target.js';
import type { NewOperation, OperationKind } from './operation-history.js';
import type { OperationRun } from './operation-run.js';
import { type PlannedCriteria, planCriteria } from './plan-criteria.js';

/** What an operator asks for (CLI flags, library call). */
export interface IndexOperationRequest {
  collection: string;
  /** A per-tenant partial index (WHERE tenant = …); omitted: the whole collection. */
  tenant?: string | null;
  method?: string;
  m?: number;
  efConstruction?: number;
  lists?: number;
  /** A plain CREATE INDEX, which blocks writes for the whole build: needs `reason`. */
  blocking?: boolean;
  reason?: string;
  deadline?: string;
  minRate?: number;
  requestedBy?: string;
  /** Called once the operation is recorded, before work starts (progress bars, logs). */
  onStart?: (run: OperationRun, plan: PreparedOperation) => void;
}

export interface PreparedOperation {
  tenant: string | null;
  params: AnnParams;
  concurrent: boolean;
  rows: number;
  settings: BuildSettings;
  planned: PlannedCriteria;
}

/**
 * Validates the request and fixes everything the operation will use, before anything is
 * recorded or built: a refused request changes nothing.
 */
export async function prepareOperation(
  target: IndexOpsTarget,
  request: IndexOperationRequest,
  kind: OperationKind,
): Promise<PreparedOperation> {
  const tenant = request.tenant ?? null;
  if (tenant !== null && tenant.trim() === '')
    throw new VectorsyncError(ErrorCode.InvalidRequest, 'tenant must not be empty', { details: { tenant } });
  const concurrent = !request.blocking;
  const reason = request.reason?.trim();
  if (!concurrent && !reason) {
    throw new VectorsyncError(
      ErrorCode.BlockingBuildNeedsReason,
      `a blocking build locks vectorsync.${target.table.name} against writes until it finishes (sync stalls, events queue); it needs --reason "why concurrent is not an option", which is recorded. Without --blocking the build is concurrent: writes and searches continue`,
      { details: { collection: target.collection } },
    );
  }
  const rows = await countScopeRows(target, tenant);
  const storeHnsw =
    target.storeConfig.provider === 'pgvector' ? target.storeConfig.hnsw : { m: 16, efConstruction: 64 };
  const params = resolveAnnParams(request, storeHnsw, rows, target.support.methods);
  const planned = await planCriteria(target, {
    tenant,
    params,
    concurrent,
    rows,
    ...(request.deadline !== undefined ? { deadline: request.deadline } : {}),
    ...(request.minRate !== undefined ? { minRate: request.minRate } : {}),
  });
  // A rehearsal's own expected duration is what it measures, not a prediction to compare with.
  if (kind === 'rehearse') {
    planned.criteria.expectedSeconds = null;
    planned.criteria.rehearsalId = null;
    planned.warnings = planned.warnings.filter((warning) => warning.code === 'deadline_before_expected_end');
  }
  return {
    tenant,
    params,
    concurrent,
    rows,
    settings: {
      maintenanceWorkMem: target.config.maintenanceWorkMem,
      parallelWorkers: target.config.parallelWorkers,
    },
    planned,
  };
}

export function newOperation(
  target: IndexOpsTarget,
  request: IndexOperationRequest,
  prepared: PreparedOperation,
  kind: OperationKind,
): NewOperation {
  return {
    collection: target.collection,
    indexId: target.index.record.id,
    kind,
    tenant: prepared.tenant,
    params: prepared.params,
    concurrent: prepared.concurrent,
    reason: request.reason?.trim() || null,
    requestedBy: request.requestedBy ?? defaultActor(),
    owner: ownerId(),
    rowsAtStart: prepared.rows,
    settings: {
      requested: prepared.settings,
      table: `${target.table.schema}.${target.table.name}`,
    },
    criteria: { ...prepared.planned.criteria },
  };
}
