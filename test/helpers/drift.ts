import type { Database } from '../../src/db/database.js';

/**
 * Runs SQL "behind sync's back": with session_replication_role = replica, no trigger fires,
 * neither the capture triggers (no outbox event), nor the version trigger (the version stays),
 * nor the foreign-key cascade from the source row to its index record. This is how drift is
 * made in tests: the way a restore, a manual fix or a bug would make it. Needs a superuser
 * (the test cluster's `postgres`).
 */
export async function behindSyncsBack(db: Database, sql: string, values: unknown[] = []): Promise<number> {
  return db.transaction(async (tx) => {
    await tx.query('SET LOCAL session_replication_role = replica');
    const result = await tx.query(sql, values);
    return result.rowCount;
  });
}

/** The ids of a drift sample list, sorted, for exact comparisons. */
export function sampleIds(samples: ReadonlyArray<{ id: string }>): string[] {
  return samples.map((sample) => sample.id).sort();
}

/** Runs work with the collection's update-capture trigger disabled: writes get new versions but no outbox event. */
export async function withUpdateCaptureOff<T>(
  db: Database,
  collection: string,
  work: () => Promise<T>,
): Promise<T> {
  const trigger = `vectorsync_${collection}_upd`;
  await db.query(`ALTER TABLE products DISABLE TRIGGER ${trigger}`);
  try {
    return await work();
  } finally {
    await db.query(`ALTER TABLE products ENABLE TRIGGER ${trigger}`);
  }
}
