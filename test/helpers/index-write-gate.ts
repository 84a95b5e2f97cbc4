import pg from 'pg';
import type { TestDatabase } from './test-environment.js';

let nextKey = 7_300_000;

/**
 * A gate on an index table, for crash tests that must kill a process while it is provably in the
 * middle of applying: once a write brings the table to `afterRows` records, that statement and
 * every later one wait for an advisory lock the gate holds. `blocked()` names the backends waiting
 * at the gate (pg_locks: not granted, on the gate's key; pg_stat_activity: waiting on an advisory
 * Lock); such a backend is inside a batch and holds everything the batch holds (claimed events,
 * unacknowledged messages, an unconfirmed slot position) for as long as the gate stays shut.
 * No sleep decides when the kill lands.
 */
export class IndexWriteGate {
  private removed = false;

  private constructor(
    private readonly testDb: TestDatabase,
    private readonly location: string,
    private readonly key: number,
    private readonly lock: pg.Client,
  ) {}

  static async shut(testDb: TestDatabase, location: string, afterRows: number): Promise<IndexWriteGate> {
    const key = nextKey++;
    const lock = new pg.Client({ connectionString: testDb.url, application_name: 'vectorsync-test-gate' });
    await lock.connect();
    const gate = new IndexWriteGate(testDb, location, key, lock);
    try {
      await lock.query('SELECT pg_advisory_lock($1)', [key]);
      await testDb.db.query(`
        CREATE FUNCTION public.index_write_gate_${key}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF (SELECT count(*) FROM vectorsync."${location}") >= ${afterRows} THEN
            PERFORM pg_advisory_xact_lock_shared(${key});
          END IF;
          RETURN NULL;
        END $$;
        CREATE TRIGGER index_write_gate_${key} AFTER INSERT OR UPDATE ON vectorsync."${location}"
          FOR EACH STATEMENT EXECUTE FUNCTION public.index_write_gate_${key}();`);
    } catch (error) {
      await lock.end();
      throw error;
    }
    return gate;
  }

  /** Process ids of the backends waiting at the gate now. */
  async blocked(): Promise<number[]> {
    const result = await this.testDb.db.query<{ pid: number }>(
      `SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
        WHERE a.datname = current_database() AND a.wait_event_type = 'Lock' AND a.wait_event = 'advisory'
          AND l.locktype = 'advisory' AND NOT l.granted AND l.classid = 0 AND l.objid = $1 AND l.objsubid = 1
        ORDER BY a.pid`,
      [this.key],
    );
    return result.rows.map((row) => row.pid);
  }

  /** Lets the waiting writes go on (the trigger stays, and no longer waits). */
  async open(): Promise<void> {
    await this.lock.query('SELECT pg_advisory_unlock($1)', [this.key]);
  }

  /** Opens the gate, ends the lock's session and removes the trigger. Safe to call more than once. */
  async remove(): Promise<void> {
    if (this.removed) return;
    this.removed = true;
    await this.lock.end();
    await this.testDb.db.query(
      `DROP TRIGGER IF EXISTS index_write_gate_${this.key} ON vectorsync."${this.location}";
       DROP FUNCTION IF EXISTS public.index_write_gate_${this.key}();`,
    );
  }
}
