/**
 * What kind of work an outbox event is, from its `origin`. Status and metrics report lag per
 * kind, because they answer different questions: how fresh the index is for the application's
 * writes (live), how far a new index has got (backfill), how quickly drift is repaired (repair).
 * A 20,000-row backfill waiting minutes for a worker says nothing about the lag of live writes.
 */
export type WorkKind = 'live' | 'backfill' | 'repair';

export const WORK_KINDS: readonly WorkKind[] = ['live', 'backfill', 'repair'];

/**
 * Outbox origins by kind (see sql/migrations/000002_sync_modes.sql). Live: a committed change
 * captured as it happened, by the capture triggers ('trigger') or `vectorsync.enqueue()` in the
 * application's transaction ('app'). Backfill: every existing row of a new index version
 * ('backfill') and the rows a TRUNCATE leaves to index again ('truncate'). Everything else
 * re-applies a change that did not reach the index the first time: a dual-write the request
 * could not finish ('dual-write'), a change the CDC consumer or bus consumer could not apply
 * ('cdc', 'bus'), a replay's failures ('replay') and reconciliation's repairs ('reconcile').
 */
const LIVE_ORIGINS = ['trigger', 'app'] as const;
const BACKFILL_ORIGINS = ['backfill', 'truncate'] as const;

export function workKindOfOrigin(origin: string): WorkKind {
  if ((LIVE_ORIGINS as readonly string[]).includes(origin)) return 'live';
  if ((BACKFILL_ORIGINS as readonly string[]).includes(origin)) return 'backfill';
  return 'repair';
}

/** The same classification in SQL, over an outbox row's `origin` column. */
export function workKindSql(originColumn = 'origin'): string {
  const list = (origins: readonly string[]) => origins.map((origin) => `'${origin}'`).join(', ');
  return `CASE WHEN ${originColumn} IN (${list(LIVE_ORIGINS)}) THEN 'live' WHEN ${originColumn} IN (${list(BACKFILL_ORIGINS)}) THEN 'backfill' ELSE 'repair' END`;
}

/**
 * On the event bus, 'cdc' is a change streamed from the replication slot as it happened (the
 * CDC consumer publishes it), so live; every other origin is the outbox event's.
 */
export function workKindOfBusOrigin(origin: string): WorkKind {
  return origin === 'cdc' ? 'live' : workKindOfOrigin(origin);
}

/** One applied change's capture-to-applied time, as the workers report it. */
export interface AppliedLag {
  collection: string;
  work: WorkKind;
  ms: number;
}
