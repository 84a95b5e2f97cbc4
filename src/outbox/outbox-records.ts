import type { CollectionDefinition } from '../config/collection-definition.js';
import type { SqlExecutor } from '../db/database.js';
import type { ChangeEvent } from '../sync/change-event.js';
import { enqueueManyCall, enqueueRelationSql } from './enqueue-many.js';
import { OUTBOX_CHANNEL_SQL } from './outbox-channel.js';

/**
 * Events that vectorsync itself puts in the outbox: a new index's backfill and reconciliation's
 * repairs (through vectorsync.enqueue_many(), like the capture triggers), and the records of
 * changes another path could not apply, which carry their error and schedule.
 */

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
  const result = await db.query<{ enqueued: string }>(
    enqueueRelationSql({ definition, relation: definition.tableSql, alias: 's', op: 'upsert', origin }),
  );
  return Number(result.rows[0]?.enqueued ?? 0);
}

/** Repairs that reconciliation could not apply, for the workers to retry like any captured change. */
export async function enqueueRepairs(db: SqlExecutor, events: readonly ChangeEvent[]): Promise<number> {
  let queued = 0;
  const groups = new Map<string, ChangeEvent[]>();
  for (const event of events) {
    const key = `${event.collection}\u0000${event.op}`;
    const group = groups.get(key);
    if (group) group.push(event);
    else groups.set(key, [event]);
  }
  for (const group of groups.values()) {
    const result = await db.query<{ enqueued: string }>(
      `SELECT ${enqueueManyCall({
        collection: '$1',
        op: '$2',
        tenants: '$3',
        sourceIds: '$4',
        sourceVersions: '$5',
        origin: `'reconcile'`,
      })} AS enqueued`,
      [
        group[0]!.collection,
        group[0]!.op,
        group.map((event) => event.tenant ?? ''),
        group.map((event) => event.sourceId),
        group.map((event) => event.sourceVersion),
      ],
    );
    queued += Number(result.rows[0]?.enqueued ?? 0);
  }
  return queued;
}

export interface DeferredEvent {
  event: ChangeEvent;
  error: string;
  code: string;
  /** How long the rate limit or budget asked to wait. */
  waitMs: number;
}

/**
 * Changes a stream consumer (CDC, bus) could not apply yet because they wait on a rate limit or
 * a budget: queued as pending, each due after its own wait, so the stream can move on.
 */
export async function deferEvents(
  db: SqlExecutor,
  items: readonly DeferredEvent[],
  origin: string,
): Promise<void> {
  const byWait = new Map<number, DeferredEvent[]>();
  for (const item of items) {
    const group = byWait.get(item.waitMs) ?? [];
    group.push(item);
    byWait.set(item.waitMs, group);
  }
  for (const [delayMs, group] of byWait)
    await recordFailedEvents(db, group, origin, { status: 'pending', delayMs });
}
