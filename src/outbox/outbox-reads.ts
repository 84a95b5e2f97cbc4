import type { SqlExecutor } from '../db/database.js';
import { type WorkKind, workKindSql } from './work-kind.js';

/**
 * What the rest of vectorsync asks of the outbox without changing it: queue depths, lag,
 * errors, and whether a collection's captured changes have all been applied. Each query reads
 * the partial index of the statuses it counts (pending, processing, failed, done), so none
 * scans the done events that retention keeps.
 */

export interface StatusCountRow {
  collection: string;
  status: 'pending' | 'processing' | 'failed' | 'drift';
  count: number;
  /** Seconds since the oldest such event was captured; null for failed and drift. */
  oldest: number | null;
}

export async function outboxCountsByStatus(db: SqlExecutor): Promise<StatusCountRow[]> {
  const result = await db.query<StatusCountRow>(
    `SELECT collection, status, count(*)::int AS count,
            extract(epoch FROM clock_timestamp() - min(created_at))::float8 AS oldest
       FROM vectorsync.outbox WHERE status = 'pending' GROUP BY collection, status
     UNION ALL
     SELECT collection, status, count(*)::int, extract(epoch FROM clock_timestamp() - min(created_at))::float8
       FROM vectorsync.outbox WHERE status = 'processing' GROUP BY collection, status
     UNION ALL
     SELECT collection, status, count(*)::int, NULL
       FROM vectorsync.outbox WHERE status = 'failed' GROUP BY collection, status
     UNION ALL
     SELECT collection, 'drift', count(*)::int, NULL
       FROM vectorsync.outbox
      -- an intent is drift once its request failed or never came back (still pending when due)
      WHERE status = 'pending' AND origin = 'dual-write' AND (last_error_code IS NOT NULL OR run_after <= clock_timestamp())
      GROUP BY collection`,
  );
  return result.rows;
}

export interface OpenByWorkRow {
  collection: string;
  work: WorkKind;
  pending: number;
  processing: number;
  oldest: number | null;
}

/** Pending and processing events per collection and kind of work, with the oldest one's age in seconds. */
export async function outboxOpenByWork(db: SqlExecutor): Promise<OpenByWorkRow[]> {
  const result = await db.query<OpenByWorkRow>(
    `SELECT collection, work,
            count(*) FILTER (WHERE status = 'pending')::int AS pending,
            count(*) FILTER (WHERE status = 'processing')::int AS processing,
            extract(epoch FROM clock_timestamp() - min(created_at))::float8 AS oldest
       FROM (SELECT collection, status, created_at, ${workKindSql()} AS work
               FROM vectorsync.outbox WHERE status = 'pending'
             UNION ALL
             SELECT collection, status, created_at, ${workKindSql()}
               FROM vectorsync.outbox WHERE status = 'processing') open
      GROUP BY 1, 2`,
  );
  return result.rows;
}

export interface LagSampleRow {
  collection: string;
  work: WorkKind;
  samples: number;
  p50: number | null;
  p95: number | null;
  max: number | null;
}

/** Capture-to-applied time, in milliseconds, of the events applied within the last `windowSeconds`. */
export async function outboxLagSamples(db: SqlExecutor, windowSeconds: number): Promise<LagSampleRow[]> {
  const result = await db.query<LagSampleRow>(
    `SELECT collection, work, count(*)::int AS samples,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY lag_ms) AS p50,
            percentile_cont(0.95) WITHIN GROUP (ORDER BY lag_ms) AS p95,
            max(lag_ms) AS max
       FROM (SELECT collection, ${workKindSql()} AS work,
                    extract(epoch FROM processed_at - created_at) * 1000 AS lag_ms
               FROM vectorsync.outbox
              WHERE status = 'done' AND processed_at > clock_timestamp() - make_interval(secs => $1)) recent
      GROUP BY collection, work`,
    [windowSeconds],
  );
  return result.rows;
}

export interface LatestErrorRow {
  collection: string;
  id: string;
  status: string;
  code: string | null;
  message: string;
}

/** Each collection's newest event that is failed, or pending again after an error. */
export async function latestOutboxErrors(db: SqlExecutor): Promise<LatestErrorRow[]> {
  const result = await db.query<LatestErrorRow>(
    `SELECT DISTINCT ON (collection) collection, id::text AS id, status, last_error_code AS code, last_error AS message
       FROM vectorsync.outbox
      WHERE status IN ('failed', 'pending') AND last_error IS NOT NULL
      ORDER BY collection, id DESC`,
  );
  return result.rows;
}

/** Over every collection, in one snapshot: events still to apply, applied since `since`, and failed. */
export async function drainCounts(
  db: SqlExecutor,
  since: Date,
): Promise<{ open: number; done: number; failed: number }> {
  const result = await db.query<{ open: number; done: number; failed: number }>(
    `SELECT (SELECT count(*) FROM vectorsync.outbox WHERE status = 'pending')::int
          + (SELECT count(*) FROM vectorsync.outbox WHERE status = 'processing')::int AS open,
            (SELECT count(*) FROM vectorsync.outbox WHERE status = 'done' AND processed_at >= $1)::int AS done,
            (SELECT count(*) FROM vectorsync.outbox WHERE status = 'failed')::int AS failed`,
    [since],
  );
  return result.rows[0]!;
}

/**
 * Events of `collection` still to apply (pending or processing), or only those captured at or
 * before `capturedBefore`: a build waits for what was captured before it looked.
 */
export async function countOpenEvents(
  db: SqlExecutor,
  collection: string,
  capturedBefore?: Date,
): Promise<number> {
  const result = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM vectorsync.outbox
      WHERE collection = $1 AND status IN ('pending', 'processing') AND ($2::timestamptz IS NULL OR created_at <= $2)`,
    [collection, capturedBefore ?? null],
  );
  return result.rows[0]!.n;
}

/** Events of `collection` applied and kept by retention. */
export async function countDoneEvents(db: SqlExecutor, collection: string): Promise<number> {
  const result = await db.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM vectorsync.outbox WHERE collection = $1 AND status = 'done'`,
    [collection],
  );
  return Number(result.rows[0]!.n);
}

/** Which of `sourceIds` have an event still to apply: reconciliation leaves those to sync. */
export async function sourceIdsWithOpenEvents(
  db: SqlExecutor,
  collection: string,
  sourceIds: readonly string[],
): Promise<Set<string>> {
  const result = await db.query<{ source_id: string }>(
    // One branch per partial index (pending, processing): only open events are read, however
    // many done events the retention keeps.
    `SELECT source_id FROM vectorsync.outbox
      WHERE status = 'pending' AND collection = $1 AND source_id = ANY($2::text[])
     UNION
     SELECT source_id FROM vectorsync.outbox
      WHERE status = 'processing' AND collection = $1 AND source_id = ANY($2::text[])`,
    [collection, [...new Set(sourceIds)]],
  );
  return new Set(result.rows.map((row) => row.source_id));
}

/** The id of the collection's newest event: unchanged between two reads means no captured write happened. */
export async function latestEventId(db: SqlExecutor, collection: string): Promise<string> {
  const result = await db.query<{ id: string | null }>(
    'SELECT max(id)::text AS id FROM vectorsync.outbox WHERE collection = $1',
    [collection],
  );
  return result.rows[0]?.id ?? '';
}
