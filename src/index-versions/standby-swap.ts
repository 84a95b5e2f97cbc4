import { hashCollectionLock } from '../db/collection-lock.js';
import type { Database } from '../db/database.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import { getIndex, type IndexRecord } from './index-catalog.js';

/**
 * Cut-over (and rollback) of a store migration, atomically: the collection's active index
 * becomes a standby and `indexId` (building or standby) becomes active, in one transaction
 * under the collection lock. The standby keeps state 'building', which means "written by
 * every sync writer, read by no search": it stays current, so switching back is the same
 * swap in the other direction. Searches of every process follow within `sync.indexRefreshMs`.
 */
export async function swapActiveKeepingStandby(
  db: Database,
  collection: string,
  indexId: number,
): Promise<{ active: IndexRecord; standby: IndexRecord | undefined }> {
  const { standbyId } = await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [hashCollectionLock(collection)]);
    const target = await tx.query<{ state: string }>(
      'SELECT state FROM vectorsync.indexes WHERE id = $1 AND collection = $2 FOR UPDATE',
      [indexId, collection],
    );
    const state = target.rows[0]?.state;
    if (state !== 'building') {
      throw new VectorsyncError(
        ErrorCode.IndexNotFound,
        `index ${indexId} of collection "${collection}" is ${state ?? 'not found'}; only a building or standby index can be switched to`,
        { details: { collection, indexId, state: state ?? null } },
      );
    }
    // Demote first: at most one active index per collection (a unique index enforces it).
    const demoted = await tx.query<{ id: number }>(
      `UPDATE vectorsync.indexes SET state = 'building'
        WHERE collection = $1 AND state = 'active' RETURNING id`,
      [collection],
    );
    await tx.query(
      `UPDATE vectorsync.indexes SET state = 'active', activated_at = now(), retired_at = NULL WHERE id = $1`,
      [indexId],
    );
    return { standbyId: demoted.rows[0]?.id };
  });
  return {
    active: await getIndex(db, indexId),
    standby: standbyId === undefined ? undefined : await getIndex(db, standbyId),
  };
}
