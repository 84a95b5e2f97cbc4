import type { SqlExecutor } from '../db/database.js';
import { OUTBOX_CHANNEL_SQL } from './outbox-channel.js';

/**
 * Makes a collection's events held back by `code` (pending, waiting out their retry delay) due
 * now, and wakes the workers: what a raised or cleared embedding budget does for the work it held.
 */
export async function wakeHeldEvents(db: SqlExecutor, collection: string, code: string): Promise<void> {
  await db.query(
    `WITH woken AS (
       UPDATE vectorsync.outbox SET run_after = clock_timestamp()
        WHERE collection = $1 AND status = 'pending' AND last_error_code = $2
        RETURNING 1)
     SELECT pg_notify(${OUTBOX_CHANNEL_SQL}, $1) WHERE EXISTS (SELECT 1 FROM woken)`,
    [collection, code],
  );
}
