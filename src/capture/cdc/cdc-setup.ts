import type { CollectionDefinition } from '../../config/collection-definition.js';
import type { SqlExecutor } from '../../db/database.js';
import { quoteIdent } from '../../db/sql-identifier.js';
import { ErrorCode, VectorsyncError } from '../../errors.js';
import { type Lsn, parseLsn } from './lsn.js';

/**
 * CDC capture objects, owned by vectorsync: a publication over the source tables of every CDC
 * collection, and a permanent logical replication slot (pgoutput) that keeps the WAL until the
 * consumer confirms it has applied it. The application needs no code and no triggers.
 */
/** Where dependency capture records the documents a related row's change affects. */
export const DOCUMENT_REVISIONS_TABLE = 'vectorsync.document_revisions';

export async function ensurePublication(
  db: SqlExecutor,
  publication: string,
  definitions: CollectionDefinition[],
): Promise<void> {
  const wanted = await db.query<{ oid: string; name: string }>(
    `SELECT t::regclass::oid::text AS oid, t AS name FROM unnest($1::text[]) AS t`,
    [
      [
        ...new Set([
          ...definitions.map((definition) => definition.tableSql),
          // The related tables' triggers write the documents they change here, in the same transaction.
          ...(definitions.some((definition) => definition.revisioned) ? [DOCUMENT_REVISIONS_TABLE] : []),
        ]),
      ],
    ],
  );
  const exists = await db.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [publication]);
  // Created empty and kept even when empty: a consumer streaming from the slot needs it to exist.
  if (!exists.rowCount) await db.query(`CREATE PUBLICATION ${quoteIdent(publication)}`);
  const current = await db.query<{ oid: string; name: string }>(
    `SELECT pr.prrelid::text AS oid, pr.prrelid::regclass::text AS name
       FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid WHERE p.pubname = $1`,
    [publication],
  );
  const currentOids = new Set(current.rows.map((row) => row.oid));
  const wantedOids = new Set(wanted.rows.map((row) => row.oid));
  const add = wanted.rows.filter((row) => !currentOids.has(row.oid)).map((row) => row.name);
  const drop = current.rows.filter((row) => !wantedOids.has(row.oid)).map((row) => row.name);
  if (add.length > 0)
    await db.query(`ALTER PUBLICATION ${quoteIdent(publication)} ADD TABLE ${add.join(', ')}`);
  if (drop.length > 0)
    await db.query(`ALTER PUBLICATION ${quoteIdent(publication)} DROP TABLE ${drop.join(', ')}`);
}

export interface SlotInfo {
  slot: string;
  active: boolean;
  activePid: number | null;
  confirmedFlushLsn: Lsn | null;
  restartLsn: Lsn | null;
  /** WAL the slot holds back from recycling, in bytes. */
  retainedBytes: number;
  /** Changes not yet confirmed by the consumer, in bytes. */
  lagBytes: number;
}

/** Creates the permanent slot if it does not exist; returns the LSN from which it captures. */
export async function ensureSlot(db: SqlExecutor, slot: string): Promise<{ created: boolean; lsn: Lsn }> {
  const existing = await slotInfo(db, slot);
  if (existing) return { created: false, lsn: existing.confirmedFlushLsn ?? 0n };
  await assertLogicalReplication(db);
  try {
    const result = await db.query<{ lsn: string }>(
      `SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')`,
      [slot],
    );
    return { created: true, lsn: parseLsn(result.rows[0]!.lsn) };
  } catch (error) {
    // Created concurrently by another process: fine.
    if ((error as { code?: string }).code === '42710')
      return { created: false, lsn: (await slotInfo(db, slot))?.confirmedFlushLsn ?? 0n };
    throw error;
  }
}

export async function slotInfo(db: SqlExecutor, slot: string): Promise<SlotInfo | undefined> {
  const result = await db.query<{
    active: boolean;
    active_pid: number | null;
    confirmed_flush_lsn: string | null;
    restart_lsn: string | null;
    retained: string | null;
    lag: string | null;
  }>(
    `SELECT active, active_pid, confirmed_flush_lsn::text, restart_lsn::text,
            pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::text AS retained,
            pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag
       FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  const row = result.rows[0];
  if (!row) return undefined;
  return {
    slot,
    active: row.active,
    activePid: row.active_pid,
    confirmedFlushLsn: row.confirmed_flush_lsn ? parseLsn(row.confirmed_flush_lsn) : null,
    restartLsn: row.restart_lsn ? parseLsn(row.restart_lsn) : null,
    retainedBytes: Number(row.retained ?? 0),
    lagBytes: Number(row.lag ?? 0),
  };
}

/** Drops the slot (the consumer must be stopped: an active slot cannot be dropped). */
export async function dropSlot(db: SqlExecutor, slot: string): Promise<boolean> {
  const info = await slotInfo(db, slot);
  if (!info) return false;
  if (info.active) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `replication slot "${slot}" is in use by process ${info.activePid}; stop the CDC consumer (vectorsync worker) first`,
      { details: { slot, pid: info.activePid } },
    );
  }
  await db.query('SELECT pg_drop_replication_slot($1)', [slot]);
  await db.query('DELETE FROM vectorsync.cdc_progress WHERE slot = $1', [slot]);
  return true;
}

async function assertLogicalReplication(db: SqlExecutor): Promise<void> {
  const level = await db.query<{ wal_level: string }>('SHOW wal_level');
  if (level.rows[0]?.wal_level !== 'logical') {
    throw new VectorsyncError(
      ErrorCode.ConfigInvalid,
      `CDC needs wal_level = logical (the server has ${level.rows[0]?.wal_level}); set it in postgresql.conf and restart Postgres`,
      { details: { walLevel: level.rows[0]?.wal_level } },
    );
  }
}
