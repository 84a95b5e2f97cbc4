import type { SqlExecutor } from '../db/database.js';
import { SqlState, sqlStateOf } from '../db/sqlstate.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import type { AnnParams } from './ann-params.js';
import type { BuildProgress } from './build-progress.js';

export type OperationKind = 'build' | 'rebuild' | 'rehearse';
export type OperationState = 'running' | 'succeeded' | 'failed' | 'aborted' | 'crashed';

export interface OperationWarning {
  code: string;
  message: string;
  at: string;
}

/** One row of vectorsync.index_operations: who did what to which index, and how it ended. */
export interface IndexOperation {
  id: number;
  collection: string;
  indexId: number | null;
  kind: OperationKind;
  tenant: string | null;
  params: AnnParams;
  concurrent: boolean;
  reason: string | null;
  requestedBy: string;
  state: OperationState;
  step: string | null;
  indexName: string | null;
  replacedIndexes: string[];
  rowsAtStart: number | null;
  settings: Record<string, unknown>;
  criteria: Record<string, unknown>;
  progress: BuildProgress | null;
  warnings: OperationWarning[];
  result: Record<string, unknown>;
  abortRequestedAt: Date | null;
  abortRequestedBy: string | null;
  abortReason: string | null;
  errorCode: string | null;
  error: string | null;
  owner: string;
  backendPid: number | null;
  backendStart: Date | null;
  heartbeatAt: Date;
  startedAt: Date;
  finishedAt: Date | null;
  durationMs: number | null;
}

interface Row {
  id: string;
  collection: string;
  index_id: number | null;
  kind: OperationKind;
  tenant: string | null;
  method: AnnParams['method'];
  params: Record<string, number>;
  concurrent: boolean;
  reason: string | null;
  requested_by: string;
  state: OperationState;
  step: string | null;
  index_name: string | null;
  replaced_indexes: string[];
  rows_at_start: string | null;
  settings: Record<string, unknown>;
  criteria: Record<string, unknown>;
  progress: BuildProgress | null;
  warnings: OperationWarning[];
  result: Record<string, unknown>;
  abort_requested_at: Date | null;
  abort_requested_by: string | null;
  abort_reason: string | null;
  error_code: string | null;
  error: string | null;
  owner: string;
  backend_pid: number | null;
  backend_start: Date | null;
  heartbeat_at: Date;
  started_at: Date;
  finished_at: Date | null;
  duration_ms: number | null;
}

const columns = `id::text, collection, index_id, kind, tenant, method, params, concurrent, reason, requested_by, state,
  step, index_name, replaced_indexes, rows_at_start::text, settings, criteria, progress, warnings, result,
  abort_requested_at, abort_requested_by, abort_reason, error_code, error, owner, backend_pid, backend_start,
  heartbeat_at, started_at, finished_at,
  (extract(epoch FROM coalesce(finished_at, clock_timestamp()) - started_at) * 1000)::float8 AS duration_ms`;

function toOperation(row: Row): IndexOperation {
  const { method, ...values } = row.params;
  const params =
    (method ?? row.method) === 'hnsw' ? { method: 'hnsw', ...values } : { method: 'ivfflat', ...values };
  return {
    id: Number(row.id),
    collection: row.collection,
    indexId: row.index_id,
    kind: row.kind,
    tenant: row.tenant,
    params: params as AnnParams,
    concurrent: row.concurrent,
    reason: row.reason,
    requestedBy: row.requested_by,
    state: row.state,
    step: row.step,
    indexName: row.index_name,
    replacedIndexes: row.replaced_indexes,
    rowsAtStart: row.rows_at_start === null ? null : Number(row.rows_at_start),
    settings: row.settings,
    criteria: row.criteria,
    progress: row.progress,
    warnings: row.warnings,
    result: row.result,
    abortRequestedAt: row.abort_requested_at,
    abortRequestedBy: row.abort_requested_by,
    abortReason: row.abort_reason,
    errorCode: row.error_code,
    error: row.error,
    owner: row.owner,
    backendPid: row.backend_pid,
    backendStart: row.backend_start,
    heartbeatAt: row.heartbeat_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    durationMs: row.duration_ms === null ? null : Math.round(row.duration_ms),
  };
}

export interface NewOperation {
  collection: string;
  indexId: number;
  kind: OperationKind;
  tenant: string | null;
  params: AnnParams;
  concurrent: boolean;
  reason: string | null;
  requestedBy: string;
  owner: string;
  rowsAtStart: number;
  settings: Record<string, unknown>;
  criteria: Record<string, unknown>;
  indexName?: string | null;
}

/** Records the start of an operation; refuses when one is already running on the collection. */
export async function insertOperation(db: SqlExecutor, input: NewOperation): Promise<IndexOperation> {
  try {
    const result = await db.query<Row>(
      `INSERT INTO vectorsync.index_operations
         (collection, index_id, kind, tenant, method, params, concurrent, reason, requested_by, owner,
          rows_at_start, settings, criteria, index_name, step)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'starting')
       RETURNING ${columns}`,
      [
        input.collection,
        input.indexId,
        input.kind,
        input.tenant,
        input.params.method,
        input.params,
        input.concurrent,
        input.reason,
        input.requestedBy,
        input.owner,
        input.rowsAtStart,
        input.settings,
        input.criteria,
        input.indexName ?? null,
      ],
    );
    return toOperation(result.rows[0]!);
  } catch (error) {
    if (sqlStateOf(error) !== SqlState.UniqueViolation) throw error;
    const running = await runningOperation(db, input.collection);
    throw new VectorsyncError(
      ErrorCode.IndexOperationRunning,
      `collection "${input.collection}" already has an index operation running${running ? `: #${running.id} ${running.kind} by ${running.requestedBy} since ${running.startedAt.toISOString()} (step ${running.step ?? '?'})` : ''}; wait for it (\`vectorsync index status\`) or abort it (\`vectorsync index abort -c ${input.collection}\`)`,
      { details: { collection: input.collection, operation: running?.id } },
    );
  }
}

export async function getOperation(db: SqlExecutor, id: number): Promise<IndexOperation> {
  const result = await db.query<Row>(`SELECT ${columns} FROM vectorsync.index_operations WHERE id = $1`, [
    id,
  ]);
  if (!result.rows[0]) {
    throw new VectorsyncError(ErrorCode.IndexOperationNotFound, `no index operation #${id}`, {
      details: { operation: id },
    });
  }
  return toOperation(result.rows[0]);
}

export async function runningOperation(
  db: SqlExecutor,
  collection: string,
): Promise<IndexOperation | undefined> {
  const result = await db.query<Row>(
    `SELECT ${columns} FROM vectorsync.index_operations WHERE collection = $1 AND state = 'running'`,
    [collection],
  );
  return result.rows[0] ? toOperation(result.rows[0]) : undefined;
}

export async function runningOperations(db: SqlExecutor): Promise<IndexOperation[]> {
  const result = await db.query<Row>(
    `SELECT ${columns} FROM vectorsync.index_operations WHERE state = 'running' ORDER BY index_operations.id`,
  );
  return result.rows.map(toOperation);
}

export async function listOperations(
  db: SqlExecutor,
  options: { collection?: string; limit: number; beforeId?: number | string },
): Promise<IndexOperation[]> {
  const result = await db.query<Row>(
    `SELECT ${columns} FROM vectorsync.index_operations
      WHERE ($1::text IS NULL OR collection = $1) AND ($3::bigint IS NULL OR id < $3)
      ORDER BY index_operations.id DESC LIMIT $2`,
    [options.collection ?? null, options.limit, options.beforeId ?? null],
  );
  return result.rows.map(toOperation);
}

/**
 * The newest successful rehearsal of the same build: scope, method, parameters, mode and
 * settings (maintenance_work_mem and parallel workers change the duration as much as the rows).
 */
export async function latestRehearsal(
  db: SqlExecutor,
  input: {
    collection: string;
    tenant: string | null;
    params: AnnParams;
    concurrent: boolean;
    settings: Record<string, unknown>;
  },
): Promise<IndexOperation | undefined> {
  const result = await db.query<Row>(
    `SELECT ${columns} FROM vectorsync.index_operations
      WHERE collection = $1 AND kind = 'rehearse' AND state = 'succeeded' AND tenant IS NOT DISTINCT FROM $2
        AND params = $3::jsonb AND concurrent = $4 AND settings -> 'requested' = $5::jsonb
      ORDER BY index_operations.id DESC LIMIT 1`,
    [input.collection, input.tenant, input.params, input.concurrent, input.settings],
  );
  return result.rows[0] ? toOperation(result.rows[0]) : undefined;
}

export interface OperationPatch {
  step?: string;
  progress?: BuildProgress;
  warnings?: OperationWarning[];
  indexName?: string;
  replacedIndexes?: string[];
  settings?: Record<string, unknown>;
  criteria?: Record<string, unknown>;
  result?: Record<string, unknown>;
  backend?: { pid: number; start: Date } | null;
}

export interface AbortRequest {
  at: Date;
  by: string | null;
  reason: string | null;
}

/**
 * Heartbeat plus whatever changed. Returns the abort request another process may have
 * recorded (`vectorsync index abort`), so the owner learns of it on its next beat.
 */
export async function updateOperation(
  db: SqlExecutor,
  id: number,
  patch: OperationPatch,
): Promise<{ abort: AbortRequest | null; state: OperationState | undefined }> {
  const result = await db.query<{
    at: Date | null;
    by: string | null;
    reason: string | null;
    state: OperationState;
  }>(
    `UPDATE vectorsync.index_operations
        SET heartbeat_at = clock_timestamp(),
            step = coalesce($2, step),
            progress = coalesce($3, progress),
            warnings = coalesce($4, warnings),
            index_name = coalesce($5, index_name),
            replaced_indexes = coalesce($6, replaced_indexes),
            settings = settings || coalesce($7, '{}'::jsonb),
            criteria = criteria || coalesce($8, '{}'::jsonb),
            result = result || coalesce($9, '{}'::jsonb),
            backend_pid = CASE WHEN $10::boolean THEN $11::int ELSE backend_pid END,
            backend_start = CASE WHEN $10::boolean THEN $12::timestamptz ELSE backend_start END
      WHERE id = $1
      RETURNING abort_requested_at AS at, abort_requested_by AS by, abort_reason AS reason, state`,
    [
      id,
      patch.step ?? null,
      patch.progress ?? null,
      patch.warnings ? JSON.stringify(patch.warnings) : null,
      patch.indexName ?? null,
      patch.replacedIndexes ?? null,
      patch.settings ?? null,
      patch.criteria ?? null,
      patch.result ?? null,
      patch.backend !== undefined,
      patch.backend?.pid ?? null,
      patch.backend?.start ?? null,
    ],
  );
  const row = result.rows[0];
  return { abort: row?.at ? { at: row.at, by: row.by, reason: row.reason } : null, state: row?.state };
}

/**
 * Records the outcome once: only a running operation can finish, so an owner and a process
 * cleaning up after it never both record one.
 */
export async function finishOperation(
  db: SqlExecutor,
  id: number,
  outcome: {
    state: Exclude<OperationState, 'running'>;
    step?: string;
    result?: Record<string, unknown>;
    warnings?: OperationWarning[];
    abortReason?: string | null;
    errorCode?: string | null;
    error?: string | null;
    progress?: BuildProgress;
    /** Only finish if the owner has not heartbeated since this instant (crash cleanup). */
    heartbeatNotAfter?: Date;
  },
): Promise<boolean> {
  const result = await db.query(
    `UPDATE vectorsync.index_operations
        SET state = $2, step = coalesce($3, step), result = result || coalesce($4, '{}'::jsonb),
            warnings = coalesce($5, warnings), abort_reason = coalesce($6, abort_reason),
            error_code = $7, error = $8, progress = coalesce($10, progress),
            finished_at = clock_timestamp(), backend_pid = NULL, backend_start = NULL
      WHERE id = $1 AND state = 'running'
        -- JavaScript dates keep milliseconds, the column microseconds
        AND ($9::timestamptz IS NULL OR heartbeat_at < $9::timestamptz + interval '1 millisecond')`,
    [
      id,
      outcome.state,
      outcome.step ?? null,
      outcome.result ?? null,
      outcome.warnings ? JSON.stringify(outcome.warnings) : null,
      outcome.abortReason ?? null,
      outcome.errorCode ?? null,
      outcome.error ?? null,
      outcome.heartbeatNotAfter ?? null,
      outcome.progress ? JSON.stringify(outcome.progress) : null,
    ],
  );
  return result.rowCount === 1;
}

/** Marks the collection's running operation for abort; its owner (or cleanup) acts on it. */
export async function requestAbort(
  db: SqlExecutor,
  collection: string,
  by: string,
  reason: string,
): Promise<IndexOperation | undefined> {
  const result = await db.query<Row>(
    `UPDATE vectorsync.index_operations
        SET abort_requested_at = coalesce(abort_requested_at, clock_timestamp()),
            abort_requested_by = coalesce(abort_requested_by, $2), abort_reason = coalesce(abort_reason, $3)
      WHERE collection = $1 AND state = 'running'
      RETURNING ${columns}`,
    [collection, by, reason],
  );
  return result.rows[0] ? toOperation(result.rows[0]) : undefined;
}
