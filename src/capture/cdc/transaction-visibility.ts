import type { SqlExecutor } from '../../db/database.js';

/**
 * Of these committed transactions (32-bit xids from pgoutput's Begin), the ones a new snapshot
 * of this session does not see yet. A commit reaches the replication stream once its WAL is
 * flushed, but other sessions see it only when the writer leaves the proc array: briefly after
 * every flush, and for as long as the writer waits for a synchronous standby. A consumer that
 * re-reads rows must wait for that, or it reads the state from before the change.
 *
 * The 32-bit xid is widened to the xid8 of the current epoch (the previous one when it would
 * lie beyond the snapshot's xmax): a committed transaction is always older than xmax.
 */
export async function invisibleTransactions(db: SqlExecutor, xids: readonly number[]): Promise<number[]> {
  if (xids.length === 0) return [];
  const result = await db.query<{ xid: string }>(
    `WITH snapshot AS (SELECT s, pg_snapshot_xmax(s)::text::bigint AS xmax FROM pg_current_snapshot() AS s)
     SELECT x.xid::text AS xid
       FROM snapshot, unnest($1::bigint[]) AS x(xid),
            LATERAL (SELECT ((snapshot.xmax >> 32) << 32) | x.xid AS guess) AS g
      WHERE NOT pg_visible_in_snapshot(
              (CASE WHEN g.guess > snapshot.xmax THEN g.guess - 4294967296 ELSE g.guess END)::text::xid8,
              snapshot.s)`,
    [xids],
  );
  return result.rows.map((row) => Number(row.xid));
}
