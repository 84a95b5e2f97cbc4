import type { SqlExecutor } from '../db/database.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import { OUTBOX_CHANNEL_SQL } from './outbox-channel.js';

export interface OutboxEventView {
  id: string;
  collection: string;
  tenant: string;
  sourceId: string;
  op: string;
  sourceVersion: string | null;
  status: string;
  /** Who queued it: 'trigger', 'backfill', 'dual-write' (drift to repair), 'cdc' or 'reconcile'. */
  origin: string;
  attempts: number;
  lastError: string | null;
  lastErrorCode: string | null;
  createdAt: string;
  processedAt: string | null;
  runAfter: string;
}

const statuses = ['pending', 'processing', 'done', 'failed'] as const;

/** Lists outbox events, newest first, keyset-paginated by id. */
export async function listOutboxEvents(
  db: SqlExecutor,
  filter: { status?: string; collection?: string; beforeId?: string; limit?: number },
): Promise<OutboxEventView[]> {
  if (filter.status !== undefined && !(statuses as readonly string[]).includes(filter.status)) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `status "${filter.status}" is not one of ${statuses.join(', ')}`,
      {
        details: { field: 'status', value: filter.status },
      },
    );
  }
  const result = await db.query<{
    id: string;
    collection: string;
    tenant: string;
    source_id: string;
    op: string;
    source_version: string | null;
    status: string;
    origin: string;
    attempts: number;
    last_error: string | null;
    last_error_code: string | null;
    created_at: Date;
    processed_at: Date | null;
    run_after: Date;
  }>(
    `SELECT id::text AS id, collection, tenant, source_id, op, source_version::text AS source_version, status, origin, attempts,
            last_error, last_error_code, created_at, processed_at, run_after
       FROM vectorsync.outbox
      WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR collection = $2)
        AND ($3::bigint IS NULL OR id < $3)
      -- outbox.id, the bigint: a bare "id" would mean the text output column ("9" after "24").
      ORDER BY outbox.id DESC LIMIT $4`,
    [
      filter.status ?? null,
      filter.collection ?? null,
      filter.beforeId ?? null,
      Math.min(filter.limit ?? 100, 1000),
    ],
  );
  return result.rows.map((row) => ({
    id: row.id,
    collection: row.collection,
    tenant: row.tenant,
    sourceId: row.source_id,
    op: row.op,
    sourceVersion: row.source_version,
    status: row.status,
    origin: row.origin,
    attempts: row.attempts,
    lastError: row.last_error,
    lastErrorCode: row.last_error_code,
    createdAt: new Date(row.created_at).toISOString(),
    processedAt: row.processed_at ? new Date(row.processed_at).toISOString() : null,
    runAfter: new Date(row.run_after).toISOString(),
  }));
}

/**
 * Puts failed events back in the queue with a fresh set of attempts. Either the given ids
 * (each must exist and be failed) or every failed event of a collection (or of all).
 */
export async function retryFailedEvents(
  db: SqlExecutor,
  selector: { ids: string[] } | { collection?: string },
): Promise<{ retried: string[] }> {
  if ('ids' in selector) {
    for (const id of selector.ids) {
      if (!/^\d+$/.test(id)) {
        throw new VectorsyncError(ErrorCode.InvalidRequest, `event id "${id}" is not a number`, {
          details: { id },
        });
      }
    }
    const found = await db.query<{ id: string; status: string }>(
      'SELECT id::text AS id, status FROM vectorsync.outbox WHERE id = ANY($1::bigint[])',
      [selector.ids],
    );
    const missing = selector.ids.filter((id) => !found.rows.some((row) => row.id === id));
    if (missing.length > 0) {
      throw new VectorsyncError(ErrorCode.EventNotFound, `no outbox event with id ${missing.join(', ')}`, {
        details: { ids: missing },
      });
    }
  }
  const result = await db.query<{ id: string }>(
    `WITH retried AS (
       UPDATE vectorsync.outbox SET status = 'pending', attempts = 0, run_after = clock_timestamp(), locked_by = NULL
        WHERE status = 'failed'
          AND ($1::bigint[] IS NULL OR id = ANY($1::bigint[]))
          AND ($2::text IS NULL OR collection = $2)
       RETURNING id, collection
     ), notified AS (
       SELECT pg_notify(${OUTBOX_CHANNEL_SQL}, collection) FROM (SELECT DISTINCT collection FROM retried) c
     )
     SELECT id::text AS id FROM retried, (SELECT count(*) FROM notified) n`,
    [
      'ids' in selector ? selector.ids : null,
      'collection' in selector ? (selector.collection ?? null) : null,
    ],
  );
  return { retried: result.rows.map((row) => row.id) };
}

/** Deletes every event of a collection, whatever its status: for a collection being dropped and rebuilt from nothing. */
export async function discardCollectionEvents(db: SqlExecutor, collection: string): Promise<void> {
  await db.query('DELETE FROM vectorsync.outbox WHERE collection = $1', [collection]);
}
