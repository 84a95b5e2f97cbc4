import type { SqlExecutor } from '../db/database.js';

/** The outbox workers' registry (`vectorsync.workers`): a worker that stops heartbeating has its claims rescued. */

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

export interface WorkerRow {
  id: string;
  hostname: string;
  pid: number;
  collections: string[];
  /** Seconds since its last heartbeat. */
  age: number;
}

export async function listWorkers(db: SqlExecutor): Promise<WorkerRow[]> {
  const result = await db.query<WorkerRow>(
    `SELECT id, hostname, pid, collections, extract(epoch FROM clock_timestamp() - heartbeat_at)::float8 AS age
       FROM vectorsync.workers ORDER BY started_at`,
  );
  return result.rows;
}
