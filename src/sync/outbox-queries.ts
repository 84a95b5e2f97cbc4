import { OUTBOX_CHANNEL_SQL } from '../capture/outbox/outbox-channel.js';
import type { CollectionDefinition } from '../config/collection-definition.js';
import { idExpression, versionExpression } from '../config/collection-definition.js';
import type { SqlExecutor } from '../db/database.js';
import { quoteIdent } from '../db/sql-identifier.js';
import type { ChangeEvent } from './change-event.js';

/** The outbox's hot-path SQL, batched; one function per statement. */

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

export async function registerWorker(
  db: SqlExecutor,
  worker: { id: string; hostname: string; pid: number; collections: readonly string[] },
): Promise<void> {
  await db.query(
    `INSERT INTO vectorsync.workers (id, hostname, pid, collections) VALUES ($1, $2, $3, $4)
     ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()`,
    [worker.id, worker.hostname, worker.pid, worker.collections],
  );
}

export async function unregisterWorker(db: SqlExecutor, workerId: string): Promise<void> {
  await db.query('DELETE FROM vectorsync.workers WHERE id = $1', [workerId]);
}

/** Forget workers long dead (their events were rescued long ago). */
export async function forgetDeadWorkers(db: SqlExecutor, olderThanMs: number): Promise<void> {
  await db.query(
    `DELETE FROM vectorsync.workers WHERE heartbeat_at < now() - make_interval(secs => $1 / 1000.0)`,
    [olderThanMs],
  );
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

/**
 * Records events that another path could not apply (a CDC or bus change that failed, a replay
 * that could not write), 'failed' so they are visible and retryable, or 'pending' for the
 * workers to apply. Tenant '' stands for "unknown" (a CDC delete knows only the key).
 */
export async function recordFailedEvents(
  db: SqlExecutor,
  items: ReadonlyArray<{ event: ChangeEvent; error: string; code: string }>,
  origin: string,
  options: { status?: 'failed' | 'pending'; delayMs?: number } = {},
): Promise<void> {
  if (items.length === 0) return;
  const status = options.status ?? 'failed';
  await db.query(
    `WITH recorded AS (
       INSERT INTO vectorsync.outbox (collection, tenant, source_id, op, source_version, origin, status, attempts, last_error, last_error_code, run_after)
       SELECT u.collection, u.tenant, u.source_id, u.op, u.source_version, $8, $9, CASE WHEN $9 = 'failed' THEN 1 ELSE 0 END,
              left(u.error, 4000), u.code, clock_timestamp() + make_interval(secs => $10 / 1000.0)
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[])
           AS u(collection, tenant, source_id, op, source_version, error, code)
       RETURNING collection
     )
     SELECT pg_notify(${OUTBOX_CHANNEL_SQL}, collection) FROM (SELECT DISTINCT collection FROM recorded) c WHERE $9 = 'pending'`,
    [
      items.map((item) => item.event.collection),
      items.map((item) => item.event.tenant ?? ''),
      items.map((item) => item.event.sourceId),
      items.map((item) => item.event.op),
      items.map((item) => item.event.sourceVersion),
      items.map((item) => item.error),
      items.map((item) => item.code),
      origin,
      status,
      options.delayMs ?? 0,
    ],
  );
}

/**
 * Dual-write's intent: the index write a request is about to make, recorded in the same
 * transaction as its source write. The request clears it once the index has the change; a
 * request that fails, times out, or never gets there (the process dies between the commit and
 * the index write) leaves it pending, and after `delayMs` the workers apply it: drift that is
 * repaired, never drift that only reconciliation finds.
 */
export async function recordWriteIntent(
  tx: SqlExecutor,
  event: Omit<ChangeEvent, 'eventId'>,
  delayMs: number,
): Promise<string> {
  const result = await tx.query<{ id: string }>(
    `INSERT INTO vectorsync.outbox (collection, tenant, source_id, op, source_version, origin, run_after)
     VALUES ($1, $2, $3, $4, $5, 'dual-write', clock_timestamp() + make_interval(secs => $6 / 1000.0))
     RETURNING id::text AS id`,
    [event.collection, event.tenant ?? '', event.sourceId, event.op, event.sourceVersion, delayMs],
  );
  return result.rows[0]!.id;
}

/**
 * The index has the intended write: the intent has served its purpose and goes (unless a worker
 * already took it, which then applies it again harmlessly). What stays is drift only.
 */
export async function completeWriteIntent(db: SqlExecutor, id: string): Promise<void> {
  await db.query(`DELETE FROM vectorsync.outbox WHERE id = $1::bigint AND status = 'pending'`, [id]);
}

/** The intended write did not reach the index: it stays pending, with why, for the workers. */
export async function noteWriteIntentDrift(
  db: SqlExecutor,
  id: string,
  failure: { error: string; code: string; delayMs: number },
): Promise<void> {
  await db.query(
    `WITH noted AS (
       UPDATE vectorsync.outbox
          SET last_error = left($2, 4000), last_error_code = $3,
              run_after = clock_timestamp() + make_interval(secs => $4 / 1000.0)
        WHERE id = $1::bigint AND status = 'pending'
       RETURNING collection
     )
     SELECT pg_notify(${OUTBOX_CHANNEL_SQL}, collection) FROM noted`,
    [id, failure.error, failure.code, failure.delayMs],
  );
}

/**
 * One upsert event per row the collection's source table holds now, in one statement: the
 * backfill of a new index ('backfill'), and what a TRUNCATE leaves to index again ('truncate').
 */
export async function enqueueEveryRow(
  db: SqlExecutor,
  definition: CollectionDefinition,
  origin: 'backfill' | 'truncate',
): Promise<number> {
  const result = await db.query<{ count: string }>(
    `WITH enqueued AS (
       INSERT INTO vectorsync.outbox (collection, tenant, source_id, op, source_version, origin)
       SELECT $1, coalesce(s.${quoteIdent(definition.tenantColumn.name)}::text, ''), ${idExpression(definition, 's')},
              'upsert', ${versionExpression(definition, 's')}, $2
         FROM ${definition.tableSql} s
       RETURNING 1
     )
     SELECT count(*)::text AS count, pg_notify(${OUTBOX_CHANNEL_SQL}, $1) FROM enqueued`,
    [definition.name, origin],
  );
  return Number(result.rows[0]?.count ?? 0);
}
