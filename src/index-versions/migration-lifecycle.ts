import { ErrorCode, VectorsyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import { indexSpecFor, type VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { databaseNow, waitForIndexWriters, writerStaleAfterMs } from '../sync/index-watcher.js';
import { type IndexRecord, liveIndexes, retireIndex } from './index-catalog.js';
import { swapActiveKeepingStandby } from './standby-swap.js';

export interface MigrationState {
  collection: string;
  active: IndexRecord;
  /** The previously active index, still kept in sync (after a cut-over or a rollback). */
  standby: IndexRecord | undefined;
  /** An index being built or verified and never active yet. */
  building: IndexRecord[];
  /** The store the config names; after a cut-over it must be changed to the active index's. */
  configuredStore: string;
  configMatches: boolean;
  /** The configured embedder makes the active version's vectors (same model and dimensions). */
  embedderMatches: boolean;
}

export async function migrationState(
  runtime: VectorsyncRuntime,
  collection: string,
): Promise<MigrationState> {
  const live = await liveIndexes(runtime.db, collection);
  const active = live.find((record) => record.state === 'active');
  if (!active) {
    throw new VectorsyncError(
      ErrorCode.IndexNotFound,
      `collection "${collection}" has no active index; run \`vectorsync setup\``,
      {
        details: { collection },
      },
    );
  }
  const others = live.filter((record) => record.state === 'building');
  const configuredStore = runtime.collection(collection).storeName;
  const { embedder } = runtime.collection(collection);
  return {
    collection,
    active,
    standby: others.find((record) => record.activatedAt !== null),
    building: others.filter((record) => record.activatedAt === null),
    configuredStore,
    configMatches: configuredStore === active.store,
    embedderMatches: embedder.modelId === active.embedderModel && embedder.dimensions === active.dimensions,
  };
}

/**
 * Switches searches back to the standby (the version active before the last cut-over); the
 * version it replaces becomes the standby, still in sync, so this can be undone the same way.
 */
export async function rollbackToStandby(
  runtime: VectorsyncRuntime,
  collection: string,
): Promise<MigrationState> {
  const state = await migrationState(runtime, collection);
  if (!state.standby) {
    throw new VectorsyncError(
      ErrorCode.IndexNotFound,
      `collection "${collection}" has no standby index to switch back to (retired, or no version was ever cut over to)`,
      { details: { collection } },
    );
  }
  await swapActiveKeepingStandby(runtime.db, collection, state.standby.id);
  await runtime.refreshIndexes();
  return migrationState(runtime, collection);
}

/**
 * Ends a store migration or a re-embed: the standby stops receiving writes and its data is
 * dropped. Refused while the config still describes the standby rather than the active version
 * (its store, or its embedder): the config change comes before this, so that no process keeps
 * building versions like the one being dropped.
 */
export async function retireStandby(
  runtime: VectorsyncRuntime,
  collection: string,
  logger: Logger,
): Promise<IndexRecord> {
  const state = await migrationState(runtime, collection);
  if (!state.standby) {
    throw new VectorsyncError(ErrorCode.IndexNotFound, `collection "${collection}" has no standby index`, {
      details: { collection },
    });
  }
  if (!state.configMatches) {
    throw new VectorsyncError(
      ErrorCode.ConfigInvalid,
      `collections.${collection}.store is "${state.configuredStore}" but searches use store "${state.active.store}": change the config first (or roll back), then drop the standby`,
      { details: { collection, configuredStore: state.configuredStore, activeStore: state.active.store } },
    );
  }
  const configured = runtime.collection(collection).embedder;
  if (!state.embedderMatches) {
    throw new VectorsyncError(
      ErrorCode.ConfigInvalid,
      `the config names the embedder ${configured.modelId}/${configured.dimensions} for collection "${collection}" but searches use ${state.active.embedderModel}/${state.active.dimensions} (${state.active.location}): switch to the standby again, or restore the config of the active version, then retire the standby`,
      {
        details: {
          collection,
          configuredModel: configured.modelId,
          activeModel: state.active.embedderModel,
        },
      },
    );
  }
  await retireAndDrop(runtime, state.standby, logger);
  return state.standby;
}

/** Gives up the versions that were never active (a failed, killed or unwanted build). */
export async function abortBuild(
  runtime: VectorsyncRuntime,
  collection: string,
  logger: Logger,
): Promise<IndexRecord[]> {
  const state = await migrationState(runtime, collection);
  for (const record of state.building) await retireAndDrop(runtime, record, logger);
  return state.building;
}

/**
 * Retires an index, waits until the sync writers stopped writing it, then drops its data, so
 * no writer fails on an index that vanished under it.
 */
export async function retireAndDrop(
  runtime: VectorsyncRuntime,
  record: IndexRecord,
  logger: Logger,
): Promise<void> {
  await retireIndex(runtime.db, record.id);
  await waitForIndexWriters(runtime.db, {
    since: await databaseNow(runtime.db),
    staleAfterMs: writerStaleAfterMs(runtime.config.sync),
    timeoutMs: Math.max(30_000, runtime.config.sync.indexRefreshMs * 10),
    logger,
  }).catch((error: Error) =>
    logger.warn({ err: error.message }, 'dropping although some writers did not confirm'),
  );
  const definition = runtime.collection(record.collection).definition;
  await runtime.store(record.store, record.collection).drop(indexSpecFor(record, definition));
  await runtime.refreshIndexes();
}
