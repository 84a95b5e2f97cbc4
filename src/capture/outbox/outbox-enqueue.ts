import type { SqlExecutor } from '../../db/database.js';

export interface EnqueueRequest {
  collection: string;
  tenant: string;
  id: string;
  op?: 'upsert' | 'delete';
  /** The source version written (or, for a delete, the version deleted). */
  version?: number | null;
}

/**
 * Application-side capture: call with the client of your own transaction, right after the
 * write. The event commits or rolls back with it. Triggers use the same outbox table; this
 * is for tables where triggers are not wanted or for changes computed outside SQL.
 */
export async function enqueueChange(tx: SqlExecutor, request: EnqueueRequest): Promise<string> {
  const result = await tx.query<{ id: string }>('SELECT vectorsync.enqueue($1, $2, $3, $4, $5)::text AS id', [
    request.collection,
    request.tenant,
    request.id,
    request.op ?? 'upsert',
    request.version ?? null,
  ]);
  return result.rows[0]!.id;
}
