import type { SqlExecutor } from '../db/database.js';
import type { DriftCounts, ReconcileReport } from './reconcile-report.js';

/** The part of a run that status pages show: when, how long, what it found and repaired. */
export interface ReconcileRunSummary {
  runId: string;
  collection: string;
  tenant: string | null;
  mode: ReconcileReport['mode'];
  trigger: ReconcileReport['trigger'];
  status: ReconcileReport['status'];
  inSync: boolean;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  counts: DriftCounts & { inFlight: number };
  repaired: number | null;
  error: { code: string; message: string } | null;
}

export function summarizeReport(report: ReconcileReport): ReconcileRunSummary {
  return {
    runId: report.runId,
    collection: report.collection,
    tenant: report.tenant,
    mode: report.mode,
    trigger: report.trigger,
    status: report.status,
    inSync: report.inSync,
    startedAt: report.startedAt,
    finishedAt: report.finishedAt,
    durationMs: report.durationMs,
    counts: report.counts,
    repaired: report.repair ? report.repair.repaired : null,
    error: report.error,
  };
}

/** History is for status and auditing: the latest runs of each collection are plenty. */
const RUNS_KEPT = 500;

export async function saveReconcileRun(db: SqlExecutor, report: ReconcileReport): Promise<void> {
  await db.query(
    `INSERT INTO vectorsync.reconcile_runs (collection, tenant, index_id, mode, trigger, status, started_at, finished_at, in_sync, report)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [
      report.collection,
      report.tenant,
      report.index.id,
      report.mode,
      report.trigger,
      report.status,
      report.startedAt,
      report.finishedAt,
      report.inSync,
      report,
    ],
  );
  await db.query(
    `DELETE FROM vectorsync.reconcile_runs
      WHERE collection = $1
        AND id < (SELECT id FROM vectorsync.reconcile_runs WHERE collection = $1 ORDER BY id DESC OFFSET $2 LIMIT 1)`,
    [report.collection, RUNS_KEPT - 1],
  );
}

/** The latest finished run of each collection (any tenant scope, any mode). */
export async function latestReconcileRuns(db: SqlExecutor): Promise<Map<string, ReconcileRunSummary>> {
  const result = await db.query<{ collection: string; report: ReconcileReport }>(
    `SELECT DISTINCT ON (collection) collection, report FROM vectorsync.reconcile_runs ORDER BY collection, id DESC`,
  );
  return new Map(result.rows.map((row) => [row.collection, summarizeReport(row.report)]));
}

/** Full reports, newest first. */
export async function listReconcileRuns(
  db: SqlExecutor,
  filter: { collection?: string; limit?: number } = {},
): Promise<ReconcileReport[]> {
  const result = await db.query<{ report: ReconcileReport }>(
    `SELECT report FROM vectorsync.reconcile_runs WHERE ($1::text IS NULL OR collection = $1) ORDER BY id DESC LIMIT $2`,
    [filter.collection ?? null, Math.min(filter.limit ?? 20, 100)],
  );
  return result.rows.map((row) => row.report);
}

/** When each collection's latest run started (the schedule counts its interval from it). */
export async function lastReconcileStarts(db: SqlExecutor): Promise<Map<string, Date>> {
  const result = await db.query<{ collection: string; started_at: Date }>(
    `SELECT collection, max(started_at) AS started_at FROM vectorsync.reconcile_runs GROUP BY collection`,
  );
  return new Map(result.rows.map((row) => [row.collection, new Date(row.started_at)]));
}
