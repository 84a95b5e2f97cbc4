import type { SqlExecutor } from '../db/database.js';
import type { ChangeEvent } from '../sync/change-event.js';
import { OUTBOX_CHANNEL_SQL } from './outbox-channel.js';

/** The workers' queue over the outbox: claim, complete, retry, rescue, prune. Batched; one function per statement. */

export interface ClaimedEvent extends ChangeEvent {
  attempts: number;
  createdAt: Date;
  origin: string;
}

interface ClaimedRow {
  id: string;
  collection: string;
  tenant: string;
  source_id: string;
  op: ChangeEvent['op'];
  source_version: string | null;
  attempts: number;
  created_at: Date;
  origin: string;
}

/**
 * Claims a batch of due events. An event that was being processed when its worker died
 * (crashes > 0) is claimed alone, ahead of the others: if it is what kills workers, it takes
 * no batch-mates with it, and only its own crash count grows.
 */
export async function claimEvents(
  db: SqlExecutor,
  options: { workerId: string; collections: readonly string[]; limit: number },
): Promise<ClaimedEvent[]> {
  const result = await db.query<ClaimedRow>(
    `WITH suspect AS (
       SELECT id FROM vectorsync.outbox
        WHERE status = 'pending' AND crashes > 0 AND run_after <= clock_timestamp() AND collection = ANY($1::text[])
        ORDER BY run_after, id
        LIMIT 1
        FOR UPDATE SKIP LOCKED
     ), batch AS (
       SELECT id FROM vectorsync.outbox
        WHERE status = 'pending' AND crashes = 0 AND run_after <= clock_timestamp() AND collection = ANY($1::text[])
          AND NOT EXISTS (SELECT 1 FROM suspect)
        ORDER BY run_after, id
        LIMIT $2
        FOR UPDATE SKIP LOCKED
     ), claimable AS (
       SELECT id FROM suspect UNION ALL SELECT id FROM batch
     )
     UPDATE vectorsync.outbox o
        SET status = 'processing', attempts = o.attempts + 1, locked_by = $3, locked_at = clock_timestamp()
       FROM claimable c
      WHERE o.id = c.id
     RETURNING o.id::text AS id, o.collection, o.tenant, o.source_id, o.op, o.source_version::text AS source_version,
               o.attempts, o.created_at, o.origin`,
    [options.collections, options.limit, options.workerId],
  );
  return result.rows
    .map((row) => ({
      eventId: row.id,
      collection: row.collection,
      // '' is how the outbox stores "tenant unknown" (a CDC delete, a row whose tenant is NULL).
      tenant: row.tenant === '' ? null : row.tenant,
      sourceId: row.source_id,
      op: row.op,
      sourceVersion: row.source_version === null ? null : Number(row.source_version),
      attempts: row.attempts,
      createdAt: new Date(row.created_at),
      capturedAt: new Date(row.created_at),
      origin: row.origin,
    }))
    .sort((a, b) => (BigInt(a.eventId) < BigInt(b.eventId) ? -1 : 1));
}

export async function completeEvents(
  db: SqlExecutor,
  workerId: string,
  ids: readonly string[],
): Promise<void> {
  if (ids.length === 0) return;
  await db.query(
    `UPDATE vectorsync.outbox
        SET status = 'done', processed_at = clock_timestamp(), locked_by = NULL, locked_at = NULL,
            last_error = NULL, last_error_code = NULL
      WHERE id = ANY($1::bigint[]) AND status = 'processing' AND locked_by = $2`,
    [ids, workerId],
  );
}

export interface EventRetry {
  id: string;
  error: string;
  code: string;
  delayMs: number;
  /** Availability failures (store or embedder down) do not use up an attempt. */
  countAttempt: boolean;
}

/** Schedules a retry, or marks the event failed once it has used its last attempt. */
export async function retryOrFailEvents(
  db: SqlExecutor,
  workerId: string,
  retries: readonly EventRetry[],
  maxAttempts: number,
): Promise<{ failed: string[] }> {
  if (retries.length === 0) return { failed: [] };
  const result = await db.query<{ id: string; status: string }>(
    `WITH input AS (
       SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::boolean[])
         AS u(id, error, code, delay_ms, count_attempt)
     )
     UPDATE vectorsync.outbox o
        SET attempts = CASE WHEN i.count_attempt THEN o.attempts ELSE greatest(o.attempts - 1, 0) END,
            status = CASE WHEN i.count_attempt AND o.attempts >= $6 THEN 'failed' ELSE 'pending' END,
            run_after = clock_timestamp() + make_interval(secs => i.delay_ms / 1000.0),
            last_error = left(i.error, 4000), last_error_code = i.code,
            locked_by = NULL, locked_at = NULL
       FROM input i
      WHERE o.id = i.id AND o.status = 'processing' AND o.locked_by = $7
     RETURNING o.id::text AS id, o.status`,
    [
      retries.map((retry) => retry.id),
      retries.map((retry) => retry.error),
      retries.map((retry) => retry.code),
      retries.map((retry) => retry.delayMs),
      retries.map((retry) => retry.countAttempt),
      maxAttempts,
      workerId,
    ],
  );
  return { failed: result.rows.filter((row) => row.status === 'failed').map((row) => row.id) };
}

/**
 * Returns to pending the events held by workers that stopped heartbeating (crashed, killed,
 * partitioned). The interrupted attempt does not count; the crash is recorded (`crashes`): from
 * then on the event is claimed alone (claimEvents). A death while the event was one of a batch
 * says nothing about which event caused it (an operator's SIGKILL or an OOM kill of a busy
 * worker looks the same), so only deaths while it was processed alone count against it: every
 * death after the first, since a suspect is always claimed alone. After `maxCrashes` of those it
 * is failed (WORKER_LOST), so a row that crashes every worker cannot take the fleet down, while a
 * slow event caught by a few outside kills is not set aside. The CDC consumer counts the same way
 * (cdc-apply-marker.ts).
 */
export async function rescueAbandonedEvents(
  db: SqlExecutor,
  workerTimeoutMs: number,
  maxCrashes: number,
): Promise<number> {
  const result = await db.query(
    `UPDATE vectorsync.outbox o
        SET status = CASE WHEN o.crashes >= $2 THEN 'failed' ELSE 'pending' END,
            crashes = o.crashes + 1,
            attempts = greatest(o.attempts - 1, 0),
            last_error = CASE WHEN o.crashes >= $2
                              THEN 'worker ' || coalesce(o.locked_by, '?') || ' stopped while processing this event alone; '
                                   || o.crashes || ' workers died holding it alone (sync.maxCrashes ' || $2 || ')'
                              ELSE o.last_error END,
            last_error_code = CASE WHEN o.crashes >= $2 THEN 'WORKER_LOST' ELSE o.last_error_code END,
            locked_by = NULL, locked_at = NULL, run_after = clock_timestamp()
      WHERE o.status = 'processing'
        AND NOT EXISTS (
          SELECT 1 FROM vectorsync.workers w
           WHERE w.id = o.locked_by AND w.heartbeat_at > clock_timestamp() - make_interval(secs => $1 / 1000.0))`,
    [workerTimeoutMs, maxCrashes],
  );
  return result.rowCount;
}

/**
 * Returns to pending the events this live worker holds but none of its loops is processing: a
 * claim whose UPDATE committed while its answer was lost (the connection broke after the
 * commit: a server stopped or a backend terminated at that moment). Nothing else would ever
 * release them, since the worker keeps heartbeating. The interrupted attempt does not count,
 * and neither does a crash: nobody died.
 */
export async function releaseOrphanedClaims(
  db: SqlExecutor,
  workerId: string,
  heldIds: readonly string[],
): Promise<number> {
  // Other workers are told too: this one may stay busy with its own batch for a while.
  const result = await db.query<{ released: number }>(
    `WITH released AS (
       UPDATE vectorsync.outbox
          SET status = 'pending', attempts = greatest(attempts - 1, 0), locked_by = NULL, locked_at = NULL,
              run_after = clock_timestamp()
        WHERE status = 'processing' AND locked_by = $1 AND NOT (id = ANY($2::bigint[]))
       RETURNING collection
     )
     SELECT count(*)::int AS released, pg_notify(${OUTBOX_CHANNEL_SQL}, collection)
       FROM released GROUP BY collection`,
    [workerId, heldIds],
  );
  return result.rows.reduce((sum, row) => sum + row.released, 0);
}

/** When the next backed-off event becomes claimable, so an idle worker can sleep until then. */
export async function nextRunAfter(db: SqlExecutor, collections: readonly string[]): Promise<Date | null> {
  const result = await db.query<{ next: Date | null }>(
    `SELECT min(run_after) AS next FROM vectorsync.outbox WHERE status = 'pending' AND collection = ANY($1::text[])`,
    [collections],
  );
  const next = result.rows[0]?.next;
  return next ? new Date(next) : null;
}

/** Deletes done events past retention, in bounded chunks so it never holds long locks. */
export async function pruneDoneEvents(
  db: SqlExecutor,
  retentionHours: number,
  chunk = 5000,
): Promise<number> {
  let total = 0;
  for (;;) {
    const result = await db.query(
      `DELETE FROM vectorsync.outbox WHERE id IN (
         SELECT id FROM vectorsync.outbox
          WHERE status = 'done' AND processed_at < now() - make_interval(secs => $1 * 3600.0)
          LIMIT $2)`,
      [retentionHours, chunk],
    );
    total += result.rowCount;
    if (result.rowCount < chunk) return total;
  }
}
