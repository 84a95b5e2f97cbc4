import { ensurePublication, slotInfo } from '../capture/cdc/cdc-setup.js';
import { formatLsn, parseLsn } from '../capture/cdc/lsn.js';
import { installDependencyCapture } from '../capture/dependency-capture.js';
import { installOutboxCapture, removeOutboxCapture } from '../capture/outbox/outbox-capture.js';
import type { CollectionDefinition } from '../config/collection-definition.js';
import { hashCollectionLock } from '../db/collection-lock.js';
import type { SqlExecutor } from '../db/database.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';

export type SyncMode = 'outbox' | 'cdc' | 'dual-write';

/** What the database says about a collection's capture (the config says what it should be). */
export interface CaptureState {
  collection: string;
  mode: SyncMode;
  /** Set while a switch is in progress: the old capture is still installed. */
  switchFrom: SyncMode | null;
  switchLsn: string | null;
  switchStartedAt: Date | null;
}

export async function readCaptureStates(db: SqlExecutor): Promise<Map<string, CaptureState>> {
  const result = await db.query<{
    name: string;
    sync_mode: SyncMode;
    switch_from: SyncMode | null;
    switch_lsn: string | null;
    switch_started_at: Date | null;
  }>(
    'SELECT name, sync_mode, switch_from, switch_lsn::text AS switch_lsn, switch_started_at FROM vectorsync.collections',
  );
  return new Map(
    result.rows.map((row) => [
      row.name,
      {
        collection: row.name,
        mode: row.sync_mode,
        switchFrom: row.switch_from,
        switchLsn: row.switch_lsn,
        switchStartedAt: row.switch_started_at,
      },
    ]),
  );
}

/**
 * Tables the publication must cover: CDC collections by config, collections the database still
 * records as CDC (their switch has not begun), and collections switching away from CDC whose
 * slot has not yet confirmed every change captured before the new capture took over.
 */
export async function publishedDefinitions(runtime: VectorsyncRuntime): Promise<CollectionDefinition[]> {
  const states = await readCaptureStates(runtime.db);
  return [...runtime.collections.values()]
    .filter((collection) => {
      const state = states.get(collection.name);
      return (
        collection.definition.config.sync.mode === 'cdc' ||
        state?.mode === 'cdc' ||
        state?.switchFrom === 'cdc'
      );
    })
    .map((collection) => collection.definition);
}

/** Collections the CDC consumer must stream: the same set as the publication. */
export async function streamedCollections(runtime: VectorsyncRuntime): Promise<string[]> {
  return (await publishedDefinitions(runtime)).map((definition) => definition.name);
}

/**
 * Step one of a mode switch, run by `setup` inside the collection's transaction when the config
 * names a different mode than the database records: installs the new capture and keeps the old
 * one, so no change falls between them (a change captured by both is applied twice, which the
 * version guard makes harmless). Returns the mode switched from, if a switch started.
 */
export async function beginModeSwitch(
  tx: SqlExecutor,
  definition: CollectionDefinition,
  previous: CaptureState | undefined,
): Promise<SyncMode | undefined> {
  const to = definition.config.sync.mode;
  if (to === 'outbox') await installOutboxCapture(tx, definition);
  if (!previous || previous.mode === to) return undefined;
  if (previous.switchFrom === to) {
    // Switching back before the switch finished: the old capture never went away.
    await tx.query(
      `UPDATE vectorsync.collections SET sync_mode = $2, switch_from = NULL, switch_lsn = NULL, switch_started_at = NULL
        WHERE name = $1`,
      [definition.name, to],
    );
    if (previous.mode === 'outbox') await removeOutboxCapture(tx, definition);
    return undefined;
  }
  if (previous.switchFrom) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `collection "${definition.name}" is still switching from ${previous.switchFrom} to ${previous.mode}; finish that first (vectorsync switch-mode finish --collection ${definition.name}) or switch back to ${previous.switchFrom}`,
      {
        details: { collection: definition.name, from: previous.switchFrom, to: previous.mode, requested: to },
      },
    );
  }
  await tx.query(
    `UPDATE vectorsync.collections SET sync_mode = $2, switch_from = $3, switch_started_at = now() WHERE name = $1`,
    [definition.name, to, previous.mode],
  );
  return previous.mode;
}

/**
 * Records where the WAL was once the new capture had committed: a switch away from CDC may only
 * finish once the slot has confirmed this position.
 */
export async function markSwitchLsn(db: SqlExecutor, collection: string): Promise<void> {
  await db.query(
    `UPDATE vectorsync.collections SET switch_lsn = pg_current_wal_lsn() WHERE name = $1 AND switch_from IS NOT NULL`,
    [collection],
  );
}

export interface FinishSwitchOptions {
  /** How long to wait for the CDC consumer to apply what the old capture took. */
  timeoutMs?: number;
  onWaiting?: (info: { confirmed: string | null; needed: string }) => void;
}

export interface FinishSwitchResult {
  collection: string;
  from: SyncMode | null;
  to: SyncMode;
  removed: string[];
}

/**
 * Step two: removes the old capture once it is safe. From the outbox: drop the triggers (the
 * events already queued still drain). From CDC: wait until the slot has confirmed the switch
 * position, then take the table out of the publication. From dual-write: nothing to remove,
 * but every service must run the new config first (it keeps dual-writing otherwise, harmlessly).
 */
export async function finishModeSwitch(
  runtime: VectorsyncRuntime,
  name: string,
  options: FinishSwitchOptions = {},
): Promise<FinishSwitchResult> {
  const collection = runtime.collection(name);
  const state = (await readCaptureStates(runtime.db)).get(name);
  const to = collection.definition.config.sync.mode;
  if (!state || state.mode !== to) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `collection "${name}" is configured for ${to} but the database records ${state?.mode ?? 'nothing'}; run \`vectorsync setup\` first`,
      { details: { collection: name, configured: to, recorded: state?.mode ?? null } },
    );
  }
  if (!state.switchFrom) return { collection: name, from: null, to, removed: [] };
  const removed: string[] = [];
  if (state.switchFrom === 'cdc') {
    await waitForSlot(runtime, state, options);
    await runtime.db.query('UPDATE vectorsync.collections SET switch_from = NULL WHERE name = $1', [name]);
    await runtime.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [hashCollectionLock('__cdc_publication')]);
      await ensurePublication(tx, runtime.config.cdc.publication, await publishedDefinitions(runtime));
    });
    removed.push(
      `table ${collection.definition.tableSql} from publication ${runtime.config.cdc.publication}`,
    );
  }
  await runtime.db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [hashCollectionLock(name)]);
    if (state.switchFrom === 'outbox' && to !== 'outbox') {
      await removeOutboxCapture(tx, collection.definition);
      removed.push(`outbox triggers on ${collection.definition.tableSql}`);
    }
    // The related tables' triggers stop queueing once only CDC captures the collection.
    await installDependencyCapture(tx, collection.definition, { enqueue: to !== 'cdc' });
    await tx.query(
      `UPDATE vectorsync.collections SET switch_from = NULL, switch_lsn = NULL, switch_started_at = NULL WHERE name = $1`,
      [name],
    );
  });
  return { collection: name, from: state.switchFrom, to, removed };
}

async function waitForSlot(
  runtime: VectorsyncRuntime,
  state: CaptureState,
  options: FinishSwitchOptions,
): Promise<void> {
  if (!state.switchLsn) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `collection "${state.collection}": the switch position was not recorded (setup interrupted?); run \`vectorsync setup\` again`,
    );
  }
  const needed = parseLsn(state.switchLsn);
  const deadline = Date.now() + (options.timeoutMs ?? 600_000);
  for (;;) {
    const slot = await slotInfo(runtime.db, runtime.config.cdc.slot);
    // No slot: nothing captured by CDC is waiting.
    if (!slot || (slot.confirmedFlushLsn !== null && slot.confirmedFlushLsn >= needed)) return;
    options.onWaiting?.({
      confirmed: slot.confirmedFlushLsn === null ? null : formatLsn(slot.confirmedFlushLsn),
      needed: state.switchLsn,
    });
    if (Date.now() > deadline) {
      throw new VectorsyncError(
        ErrorCode.Timeout,
        `the CDC consumer has not applied every change up to ${state.switchLsn} (slot at ${slot.confirmedFlushLsn === null ? 'nothing' : formatLsn(slot.confirmedFlushLsn)}); keep a worker running (it consumes the slot for collections switching away from CDC) and retry`,
        { details: { collection: state.collection, needed: state.switchLsn } },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
