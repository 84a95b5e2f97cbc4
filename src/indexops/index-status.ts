import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { type AnnIndexInfo, listAnnIndexes } from './ann-index-catalog.js';
import { describeAnnParams } from './ann-params.js';
import type { BuildProgress } from './build-progress.js';
import {
  type IndexOperation,
  listOperations,
  type OperationWarning,
  runningOperation,
} from './operation-history.js';

export interface AnnIndexStatus extends AnnIndexInfo {
  description: string;
  /** serving: valid; building: a CREATE INDEX works on it; invalid: a leftover to clean up. */
  state: 'serving' | 'building' | 'invalid';
}

export interface OperationSummary {
  id: number;
  kind: string;
  state: string;
  step: string | null;
  tenant: string | null;
  params: string;
  concurrent: boolean;
  reason: string | null;
  requestedBy: string;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  rowsAtStart: number | null;
  abortReason: string | null;
  error: string | null;
  warnings: OperationWarning[];
  indexName: string | null;
}

export interface RunningOperationStatus extends OperationSummary {
  progress: BuildProgress | null;
  criteria: Record<string, unknown>;
  settings: Record<string, unknown>;
  /** Heartbeat age; beyond indexOps.heartbeatTimeoutMs the owner is presumed dead. */
  heartbeatAgeSeconds: number;
  ownerAlive: boolean;
  abortRequested: boolean;
}

export interface IndexStatus {
  collection: string;
  store: string;
  storeKind: string;
  /** False when the store does not support index operations (see `message`). */
  supported: boolean;
  message?: string;
  index: { id: number; location: string; table: string } | null;
  /** The table's rows (the planner's estimate once analysed). */
  rows: number | null;
  annIndexes: AnnIndexStatus[];
  running: RunningOperationStatus | null;
  last: OperationSummary | null;
  rehearsal: (OperationSummary & { predictedSeconds: number | null; tableRows: number | null }) | null;
  problems: string[];
}

/**
 * Read-only: what the catalog says about a collection's ANN indexes, the running operation
 * with its latest progress (persisted by its owner, wherever that runs), the last finished
 * operation and rehearsal, and problems that need a command (invalid leftovers, a dead owner).
 */
export async function readIndexStatus(runtime: VectorsyncRuntime, collection: string): Promise<IndexStatus> {
  const owner = runtime.collection(collection);
  const active = owner.targets.find((target) => target.record.state === 'active');
  const status: IndexStatus = {
    collection,
    store: owner.storeName,
    storeKind: owner.store.kind,
    supported: Boolean(owner.store.indexOps),
    index: null,
    rows: null,
    annIndexes: [],
    running: null,
    last: null,
    rehearsal: null,
    problems: [],
  };
  if (!owner.store.indexOps)
    status.message = `store "${owner.storeName}" (${owner.store.kind}) does not support index operations`;
  const running = await runningOperation(runtime.db, collection);
  if (running) status.running = await runningStatus(runtime, running);
  const recent = await listOperations(runtime.db, { collection, limit: 50 });
  const finished = recent.find((operation) => operation.state !== 'running');
  if (finished) status.last = summarize(finished);
  const rehearsal = recent.find(
    (operation) => operation.kind === 'rehearse' && operation.state === 'succeeded',
  );
  if (rehearsal)
    status.rehearsal = {
      ...summarize(rehearsal),
      predictedSeconds: numberOrNull(rehearsal.result.predictedSeconds),
      tableRows: numberOrNull(rehearsal.result.tableRows),
    };
  if (!active || !owner.store.indexOps) return status;
  const support = owner.store.indexOps;
  const table = support.table(active.spec);
  status.index = {
    id: active.record.id,
    location: active.record.location,
    table: `${table.schema}.${table.name}`,
  };
  const estimate = await support.db.query<{ rows: string }>(
    'SELECT reltuples::bigint::text AS rows FROM pg_class WHERE oid = to_regclass($1)',
    [table.qualified],
  );
  let rows = Number(estimate.rows[0]?.rows ?? -1);
  if (rows < 0) {
    // Never analysed (a young table): count it, it is small.
    const counted = await support.db.query<{ rows: string }>(
      `SELECT count(*)::text AS rows FROM ${table.qualified}`,
    );
    rows = Number(counted.rows[0]?.rows ?? 0);
  }
  status.rows = rows;
  status.annIndexes = (await listAnnIndexes(support.db, table)).map((index) => ({
    ...index,
    description: describeAnnParams(index.params),
    state: index.valid ? 'serving' : index.building ? 'building' : 'invalid',
  }));
  const ownedByLiveOperation = (name: string) =>
    status.running?.ownerAlive === true && status.running.indexName === name;
  for (const index of status.annIndexes) {
    if (index.state === 'invalid' && !ownedByLiveOperation(index.name))
      status.problems.push(
        `invalid index ${index.name} (left by an interrupted build): the next index command drops it`,
      );
  }
  if (status.running && !status.running.ownerAlive)
    status.problems.push(
      `operation #${status.running.id} has not heartbeated for ${Math.round(status.running.heartbeatAgeSeconds)}s: its owner (${running?.owner}) is presumed dead; the next index command cleans up after it`,
    );
  if (
    !status.annIndexes.some(
      (index) => index.state === 'serving' && index.tenant === null && index.predicate === null,
    )
  )
    status.problems.push('no valid ANN index covers the whole collection: searches scan exactly (slowly)');
  return status;
}

async function runningStatus(
  runtime: VectorsyncRuntime,
  operation: IndexOperation,
): Promise<RunningOperationStatus> {
  const age = await runtime.db.query<{ seconds: number }>(
    'SELECT extract(epoch FROM clock_timestamp() - $1::timestamptz)::float8 AS seconds',
    [operation.heartbeatAt],
  );
  const heartbeatAgeSeconds = age.rows[0]?.seconds ?? 0;
  return {
    ...summarize(operation),
    progress: operation.progress,
    criteria: operation.criteria,
    settings: operation.settings,
    heartbeatAgeSeconds,
    ownerAlive: heartbeatAgeSeconds * 1000 <= runtime.config.indexOps.heartbeatTimeoutMs,
    abortRequested: operation.abortRequestedAt !== null,
  };
}

export function summarize(operation: IndexOperation): OperationSummary {
  return {
    id: operation.id,
    kind: operation.kind,
    state: operation.state,
    step: operation.step,
    tenant: operation.tenant,
    params: describeAnnParams(operation.params),
    concurrent: operation.concurrent,
    reason: operation.reason,
    requestedBy: operation.requestedBy,
    startedAt: operation.startedAt.toISOString(),
    finishedAt: operation.finishedAt?.toISOString() ?? null,
    durationMs: operation.durationMs,
    rowsAtStart: operation.rowsAtStart,
    abortReason: operation.abortReason,
    error: operation.error,
    warnings: operation.warnings,
    indexName: operation.indexName,
  };
}

function numberOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}
