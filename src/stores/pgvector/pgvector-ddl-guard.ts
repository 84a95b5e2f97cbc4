import type { SqlExecutor } from '../../db/database.js';
import { ErrorCode, VectorsyncError } from '../../errors.js';

/**
 * ensureIndex re-applies DDL that takes ACCESS EXCLUSIVE on an existing index table (ALTER
 * TABLE … ADD COLUMN IF NOT EXISTS, DROP/CREATE TRIGGER). While an index build or drop holds
 * SHARE UPDATE EXCLUSIVE on the table (CREATE/DROP INDEX CONCURRENTLY, which may run for
 * hours), that request would wait in the lock queue, and every search of the table would queue
 * behind it. Refuse instead, naming the operation, so `setup` cannot stall search by accident.
 */
export async function assertNoConcurrentIndexDdl(db: SqlExecutor, table: string): Promise<void> {
  const holders = await db.query<{ pid: number; query: string }>(
    `SELECT a.pid, left(a.query, 200) AS query
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'relation' AND l.relation = to_regclass($1) AND l.granted
        AND l.mode = 'ShareUpdateExclusiveLock' AND a.backend_type = 'client backend'
        AND a.pid <> pg_backend_pid()`,
    [table],
  );
  const holder = holders.rows[0];
  if (!holder) return;
  throw new VectorsyncError(
    ErrorCode.IndexOperationRunning,
    `${table} is busy with an index operation (backend ${holder.pid}: ${holder.query}); setup would queue an exclusive lock behind it and stall every search of the index until it ends. Run setup once it has finished (\`vectorsync index status\`), or abort it (\`vectorsync index abort\`)`,
    { details: { table, pid: holder.pid } },
  );
}
