import { formatLsn, type Lsn, parseLsn } from '../capture/cdc/lsn.js';
import type { SqlExecutor } from '../db/database.js';

/** The change a consumer died applying, as the next holder of the slot finds it. */
export interface CrashSuspect {
  /** Commit LSN of the transaction; with `event` null, the last transaction of the batch. */
  lsn: Lsn;
  /** Index of the change within its transaction; null: the whole batch up to `lsn`. */
  event: number | null;
  /** Consumers that died applying it alone, the predecessor included (a batch-level death counts 0). */
  crashes: number;
}

/**
 * What the CDC consumer is applying, kept in `vectorsync.cdc_progress` so that a consumer that
 * dies (SIGKILL, OOM, a native crash) is noticed by its successor: the slot resends the
 * unconfirmed changes, and without this a change that kills consumers would kill every one of
 * them in turn. Only the holder of the slot writes it, so reading it right after taking the
 * slot tells whether the previous holder stopped cleanly.
 */
export class CdcApplyMarker {
  constructor(
    private readonly db: SqlExecutor,
    private readonly slot: string,
    private readonly consumerId: string,
  ) {}

  /**
   * Called once the slot is ours. A marker left by another consumer whose apply was under way
   * means that consumer died applying those changes: the crash is counted (and written at once,
   * so that dying again counts too).
   */
  async takeOver(): Promise<CrashSuspect | undefined> {
    const result = await this.db.query<{
      applying_lsn: string | null;
      applying_event: number | null;
      applying_by: string | null;
      applying_crashes: number;
      under_way: boolean;
    }>(
      `SELECT applying_lsn::text, applying_event, applying_by, applying_crashes,
              coalesce(applying_since >= pg_postmaster_start_time(), false) AS under_way
         FROM vectorsync.cdc_progress WHERE slot = $1`,
      [this.slot],
    );
    const row = result.rows[0];
    if (!row?.applying_lsn || row.applying_by === this.consumerId) return undefined;
    // A death during a batch says nothing about which change caused it (an operator's SIGKILL,
    // an OOM kill of a busy process look the same): the batch is then applied one change at a
    // time, and only a death while one change was being applied alone counts against it. A
    // batch-level crash therefore counts for none of its changes; a poison change is set aside
    // after sync.maxCrashes deaths of its own, a slow change caught by outside kills is not.
    // Nor does a marker count whose apply was not under way: written before the server last
    // started (the session ended with the server; its holder is usually alive and only lost the
    // slot to us), withdrawn while the apply waited for a dependency that was away or when its
    // consumer gave the session up, or naming a change already set aside (not applied at all).
    // Those keep their count: the change is still applied alone, and its next death counts.
    const counted = row.applying_event !== null && row.under_way;
    const suspect: CrashSuspect = {
      lsn: parseLsn(row.applying_lsn),
      event: row.applying_event,
      crashes: row.applying_event === null ? 0 : row.applying_crashes + (counted ? 1 : 0),
    };
    // Ours now, and not under way until we apply it ourselves.
    await this.db.query(
      `UPDATE vectorsync.cdc_progress SET applying_by = $2, applying_crashes = $3, applying_since = NULL
        WHERE slot = $1`,
      [this.slot, this.consumerId, suspect.crashes],
    );
    return suspect;
  }

  /** Before applying: the batch up to `lsn` (event null) or one change of the transaction at `lsn`. */
  async mark(lsn: Lsn, event: number | null, crashes: number): Promise<void> {
    await this.db.query(
      `INSERT INTO vectorsync.cdc_progress (slot, collections, applying_lsn, applying_event, applying_by, applying_crashes, applying_since)
       VALUES ($1, '{}', $2::pg_lsn, $3, $4, $5, clock_timestamp())
       ON CONFLICT (slot) DO UPDATE SET applying_lsn = EXCLUDED.applying_lsn, applying_event = EXCLUDED.applying_event,
         applying_by = EXCLUDED.applying_by, applying_crashes = EXCLUDED.applying_crashes,
         applying_since = EXCLUDED.applying_since`,
      [this.slot, formatLsn(lsn), event, this.consumerId, crashes],
    );
  }

  /**
   * The marked apply is not under way any more (a dependency is away and it waits to retry, the
   * session is given up, or the change is set aside): a death from now on is not its doing. The
   * marker stays, so a successor still applies those changes one by one, with the same count.
   */
  async withdraw(): Promise<void> {
    await this.db.query(
      'UPDATE vectorsync.cdc_progress SET applying_since = NULL WHERE slot = $1 AND applying_by = $2',
      [this.slot, this.consumerId],
    );
  }

  /** After the changes were applied and confirmed. */
  async clear(): Promise<void> {
    await this.db.query(
      `UPDATE vectorsync.cdc_progress SET applying_lsn = NULL, applying_event = NULL, applying_crashes = 0,
         applying_since = NULL
        WHERE slot = $1 AND applying_by = $2`,
      [this.slot, this.consumerId],
    );
  }
}
