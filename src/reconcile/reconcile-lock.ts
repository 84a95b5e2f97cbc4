import { hashCollectionLock } from '../db/collection-lock.js';
import type { Database } from '../db/database.js';

const heldOnSingleSession = new WeakMap<Database, Set<string>>();

export interface HeldLock {
  release(): Promise<void>;
}

/**
 * One reconciliation per collection at a time, across every process: a transaction-level
 * advisory lock held by a transaction that stays open (idle, without a snapshot or an xid,
 * so it holds back neither vacuum nor anyone else) for the duration of the run. A crashed
 * process releases it with its connection. Returns undefined when another run holds it.
 *
 * PGlite has one connection, which such a transaction would monopolise; one process owns the
 * database there, so a session-level lock on that connection does the same job.
 */
export async function tryReconcileLock(db: Database, collection: string): Promise<HeldLock | undefined> {
  const key = hashCollectionLock(`${collection}:reconcile`);
  if (db.kind === 'pglite') {
    // Session locks are re-entrant and PGlite has a single session: exclude runs of this
    // process by hand, and other processes (a second PGlite on the same data dir) by the lock.
    const held = heldOnSingleSession.get(db) ?? new Set<string>();
    heldOnSingleSession.set(db, held);
    if (held.has(key)) return undefined;
    held.add(key);
    const result = await db
      .query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [key])
      .catch((error: unknown) => {
        held.delete(key);
        throw error;
      });
    if (!result.rows[0]?.locked) {
      held.delete(key);
      return undefined;
    }
    return {
      async release() {
        held.delete(key);
        await db.query('SELECT pg_advisory_unlock($1)', [key]);
      },
    };
  }
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let acquired!: (locked: boolean) => void;
  const decided = new Promise<boolean>((resolve) => (acquired = resolve));
  const holder = db
    .transaction(async (tx) => {
      const result = await tx.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [
        key,
      ]);
      const locked = result.rows[0]?.locked === true;
      acquired(locked);
      if (locked) await released;
    })
    .catch((error: unknown) => {
      acquired(false);
      throw error;
    });
  const locked = await Promise.race([decided, holder.then(() => false)]);
  if (!locked) {
    await holder;
    return undefined;
  }
  return {
    async release() {
      release();
      await holder.catch(() => undefined);
    },
  };
}
