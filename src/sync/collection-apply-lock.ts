import { hashCollectionLock } from '../db/collection-lock.js';
import type { Database } from '../db/database.js';

/**
 * Orders a collection's TRUNCATE against every other apply of it, across processes. A TRUNCATE
 * empties the index at once and leaves no tombstones, so two interleavings would otherwise lose
 * or resurrect rows: a write that read a row before the TRUNCATE and lands after it (an orphan
 * nothing deletes), and a row inserted after the TRUNCATE whose event another worker applied
 * before it (emptied, and never written again). Ordinary applies hold the lock shared (they
 * never wait for each other); a TRUNCATE holds it exclusively while it empties the index and
 * re-indexes whatever the source holds by then.
 *
 * An advisory lock of the source database, held for the whole apply on a connection of its
 * own; a holder that dies releases it with its session. The embedded demo database (one
 * connection, one process) needs none.
 */
export function withCollectionApplyLock<T>(
  db: Database,
  collection: string,
  mode: 'shared' | 'exclusive',
  work: () => Promise<T>,
): Promise<T> {
  if (!db.withAdvisoryLock) return work();
  return db.withAdvisoryLock(hashCollectionLock(`apply:${collection}`), mode, work);
}
