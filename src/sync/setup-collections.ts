import { ensurePublication, ensureSlot } from '../capture/cdc/cdc-setup.js';
import { formatLsn } from '../capture/cdc/lsn.js';
import { installDependencyCapture } from '../capture/dependency-capture.js';
import { installVersionTrigger } from '../capture/version-trigger.js';
import { canonicalJson } from '../config/canonical-json.js';
import { keyColumnNames } from '../config/collection-definition.js';
import { hashCollectionLock } from '../db/collection-lock.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import {
  assertAnalyzerMatches,
  assertEmbedderMatches,
  createIndexRecord,
  type IndexRecord,
  liveIndexes,
  retireLiveIndexes,
} from '../index-versions/index-catalog.js';
import { enqueueEveryRow } from '../outbox/outbox-records.js';
import type { CollectionRuntime, VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { indexSpecFor } from '../runtime/vectorsync-runtime.js';
import { indexParamsFor } from '../stores/index-params.js';
import { databaseNow, waitForIndexWriters, writerStaleAfterMs } from './index-watcher.js';
import {
  beginModeSwitch,
  markSwitchLsn,
  publishedDefinitions,
  readCaptureStates,
  type SyncMode,
} from './sync-mode-switch.js';

export interface SetupResult {
  collection: string;
  index: IndexRecord;
  createdIndex: boolean;
  /** Rows enqueued to build a new index from the source. */
  backfilled: number;
  retiredIndexes: IndexRecord[];
  /** Set when this run started a sync-mode switch (both captures now run until it is finished). */
  switchedFrom?: SyncMode;
  /**
   * Index settings the config names that the serving version was not built with (HNSW `m`,
   * `vectorType`, …): setup never rebuilds a serving version; `vectorsync reembed` does, blue/green.
   */
  settingsNotApplied?: string[];
}

export interface SetupOptions {
  collections?: string[];
}

/**
 * Makes the database match the config, idempotently: registers each collection, installs
 * its capture (outbox triggers, or the CDC publication and replication slot), creates its
 * index (CONCURRENTLY) and, for a new index, enqueues every existing source row so the index
 * is built from Postgres, the source of truth. CDC capture starts before that backfill reads
 * anything, so no change can fall between the two.
 */
export async function setupCollections(
  runtime: VectorsyncRuntime,
  options: SetupOptions = {},
): Promise<SetupResult[]> {
  const names = options.collections ?? [...runtime.collections.keys()];
  await setupCdcCapture(runtime);
  const results: SetupResult[] = [];
  for (const name of names) results.push(await setupCollection(runtime, runtime.collection(name)));
  await runtime.refreshIndexes();
  return results;
}

async function setupCollection(
  runtime: VectorsyncRuntime,
  collection: CollectionRuntime,
): Promise<SetupResult> {
  const { definition, embedder } = collection;
  const storeConfig = runtime.config.stores[collection.storeName]!;
  const analyzer = definition.config.analyzer;
  const params = indexParamsFor(storeConfig, definition.config);

  const { index, created, retired, switchedFrom } = await runtime.db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [hashCollectionLock(definition.name)]);
    const previous = (await readCaptureStates(tx)).get(definition.name);
    // The recorded mode changes only through beginModeSwitch.
    await tx.query(
      `INSERT INTO vectorsync.collections (name, source_table, primary_key, tenant_column, version_column, sync_mode)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (name) DO UPDATE SET source_table = EXCLUDED.source_table, primary_key = EXCLUDED.primary_key,
         tenant_column = EXCLUDED.tenant_column, version_column = EXCLUDED.version_column, updated_at = now()`,
      [
        definition.name,
        `${definition.table.schema}.${definition.table.name}`,
        keyColumnNames(definition),
        definition.tenantColumn.name,
        definition.versionColumn.name,
        definition.config.sync.mode,
      ],
    );
    if (definition.config.manageVersion) await installVersionTrigger(tx, definition);
    const switchedFrom = await beginModeSwitch(tx, definition, previous);
    // Related tables queue their documents in the outbox unless only CDC captures the collection.
    const mode = definition.config.sync.mode;
    const capturingFrom = switchedFrom ?? (previous?.mode === mode ? previous.switchFrom : null);
    await installDependencyCapture(tx, definition, {
      enqueue: mode !== 'cdc' || (capturingFrom !== null && capturingFrom !== 'cdc'),
    });
    if (definition.config.sync.mode === 'outbox') {
      await tx.query('UPDATE vectorsync.collections SET capture_installed_at = now() WHERE name = $1', [
        definition.name,
      ]);
    }
    const live = await liveIndexes(tx, definition.name);
    const active = live.find((record) => record.state === 'active');
    // A new version beside an active one (another embedder, analyzer or index settings) is
    // built blue/green by `vectorsync reembed`, never here: searches must not see it half built.
    if (active) {
      assertEmbedderMatches(active, embedder);
      assertAnalyzerMatches(active, analyzer);
      if (active.store !== collection.storeName) {
        throw new VectorsyncError(
          ErrorCode.ConfigInvalid,
          `collection "${definition.name}" is served by store "${active.store}" but the config names "${collection.storeName}"; switching stores is a migration: \`vectorsync migrate-store --collection ${definition.name} --to ${collection.storeName}\` (docs/operations/store-migration.md), or, after a completed migration or rollback, set collections.${definition.name}.store to "${active.store}"`,
          {
            details: {
              collection: definition.name,
              indexStore: active.store,
              configuredStore: collection.storeName,
            },
          },
        );
      }
      return { index: active, created: false, retired: [] as IndexRecord[], switchedFrom };
    }
    const retired = await retireLiveIndexes(tx, definition.name);
    const record = await createIndexRecord(tx, {
      collection: definition.name,
      store: collection.storeName,
      storeKind: storeConfig.provider,
      embedding: collection.embedding,
      params,
      state: 'active',
    });
    return {
      index: record,
      created: true,
      retired,
      switchedFrom,
    };
  });
  if (switchedFrom) {
    await markSwitchLsn(runtime.db, definition.name);
    runtime.logger.warn(
      { collection: definition.name, from: switchedFrom, to: definition.config.sync.mode },
      'sync mode switch started: both captures are installed; restart workers and services with the new config, then run `vectorsync switch-mode finish`',
    );
  }

  await collection.store.ensureIndex(indexSpecFor(index, definition));
  let droppable = retired;
  if (created) {
    // Running workers and services must write the new index, and stop writing the retired
    // ones, before the backfill is queued and the retired tables go: a writer still on the old
    // list would apply a backfill event to the old index only (the new one would miss the row),
    // or fail it on a dropped table.
    await runtime.refreshIndexes();
    const staleAfterMs = writerStaleAfterMs(runtime.config.sync);
    const seen = await waitForIndexWriters(runtime.db, {
      since: await databaseNow(runtime.db),
      staleAfterMs,
      timeoutMs: staleAfterMs * 2,
      logger: runtime.logger,
    }).then(
      () => true,
      (error: Error) => {
        runtime.logger.warn(
          { collection: definition.name, err: error.message },
          'a running writer has not picked up the new index; the retired index is kept rather than dropped under it',
        );
        return false;
      },
    );
    if (!seen) droppable = [];
  }
  for (const old of droppable) {
    // A retired index may live in another store (a store migration's standby).
    await Promise.resolve()
      .then(() => runtime.store(old.store).drop(indexSpecFor(old, definition)))
      .catch((error: Error) =>
        runtime.logger.warn(
          { collection: definition.name, index: old.location, err: error.message },
          'could not drop retired index',
        ),
      );
  }

  let backfilled = 0;
  if (created) backfilled = await enqueueBackfill(runtime, collection);
  runtime.logger.info(
    { collection: definition.name, index: index.location, createdIndex: created, backfilled },
    created ? 'collection set up; index building from source' : 'collection set up',
  );
  const settingsNotApplied = created ? [] : differingParams(index.params, params);
  return {
    collection: definition.name,
    index,
    createdIndex: created,
    backfilled,
    retiredIndexes: retired,
    ...(switchedFrom ? { switchedFrom } : {}),
    ...(settingsNotApplied.length > 0 ? { settingsNotApplied } : {}),
  };
}

/**
 * The build settings whose values differ between a version's recorded params and the config's.
 * The analyzer is left to assertAnalyzerMatches (it fills in settings added since a version was
 * recorded); a setting a version did not record is not known to differ, except `vectorType`,
 * whose absence means `vector`.
 */
function differingParams(recorded: Record<string, unknown>, configured: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(recorded), ...Object.keys(configured)]);
  keys.delete('analyzer');
  return [...keys]
    .filter((key) =>
      key === 'vectorType'
        ? (recorded[key] ?? 'vector') !== (configured[key] ?? 'vector')
        : key === 'chunking'
          ? canonicalJson(recorded[key] ?? null) !== canonicalJson(configured[key] ?? null)
          : key in recorded &&
            key in configured &&
            canonicalJson(recorded[key]) !== canonicalJson(configured[key]),
    )
    .sort();
}

/**
 * Publication over every CDC collection's table (and those still switching away from CDC), and
 * the permanent slot. Runs before any collection's own setup, so a switch to CDC starts
 * capturing before the old capture could be removed, and a backfill reads nothing the slot
 * has not already got.
 */
export async function setupCdcCapture(runtime: VectorsyncRuntime): Promise<void> {
  const cdc = [...runtime.collections.values()].filter(
    (collection) => collection.definition.config.sync.mode === 'cdc',
  );
  if (cdc.length === 0) {
    const published = await publishedDefinitions(runtime);
    if (published.length === 0) return;
  }
  for (const collection of cdc) {
    const info = collection.definition.tableInfo;
    const identity = await runtime.db.query<{ identity: string; index_columns: string[] | null }>(
      `SELECT c.relreplident::text AS identity,
              (SELECT array_agg(a.attname::text) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                WHERE i.indrelid = c.oid AND i.indisreplident) AS index_columns
         FROM pg_class c WHERE c.oid = $1::regclass`,
      [collection.definition.tableSql],
    );
    const replica = identity.rows[0];
    if (info.primaryKey.length === 0 && replica?.identity === 'd') {
      throw new VectorsyncError(
        ErrorCode.ConfigInvalid,
        `collections.${collection.name}: CDC needs ${collection.definition.table.schema}.${collection.definition.table.name} to have a primary key or a replica identity (ALTER TABLE … REPLICA IDENTITY USING INDEX …); without one, Postgres would refuse the application's updates and deletes once the table is published`,
      );
    }
    // A delete in the stream carries only the replica identity's columns: without every key
    // column there, the consumer could not tell which id was deleted.
    const identityColumns =
      replica?.identity === 'f'
        ? undefined
        : replica?.identity === 'i'
          ? (replica.index_columns ?? [])
          : replica?.identity === 'n'
            ? []
            : info.primaryKey;
    const uncovered = collection.definition.keyColumns.filter(
      (column) => identityColumns !== undefined && !identityColumns.includes(column.name),
    );
    if (uncovered.length > 0) {
      throw new VectorsyncError(
        ErrorCode.ConfigInvalid,
        `collections.${collection.name}.primaryKey: CDC sees deletes only by the table's replica identity (${identityColumns?.join(', ') || 'none'}), which lacks ${uncovered.map((column) => `"${column.name}"`).join(', ')} of the key ${keyColumnNames(collection.definition)}; make the key the table's primary key, or set REPLICA IDENTITY USING INDEX on its unique index`,
        { details: { collection: collection.name, columns: uncovered.map((column) => column.name) } },
      );
    }
  }
  await runtime.db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [hashCollectionLock('__cdc_publication')]);
    await ensurePublication(tx, runtime.config.cdc.publication, await publishedDefinitions(runtime));
  });
  const { created, lsn } = await ensureSlot(runtime.db, runtime.config.cdc.slot);
  if (created)
    runtime.logger.info(
      { slot: runtime.config.cdc.slot, lsn: formatLsn(lsn) },
      'created logical replication slot',
    );
}

/** One outbox event per existing row of the collection (origin 'backfill'). */
export function enqueueBackfill(runtime: VectorsyncRuntime, collection: CollectionRuntime): Promise<number> {
  return enqueueEveryRow(runtime.db, collection.definition, 'backfill');
}
