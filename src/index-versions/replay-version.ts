import type { EventBus } from '../bus/event-bus.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { Applier } from '../sync/applier.js';
import { backoffDelay, requestedWaitMs } from '../sync/backoff.js';
import { toChangeEvent } from '../sync/bus-consumer.js';
import {
  type BuildStage,
  buildIndexVersion,
  type IndexBuildReport,
  type VersionFill,
} from './build-index-version.js';
import type { FillResult } from './fill-index.js';
import { sleep, tallyOutcomes, throwIfAborted } from './fill-index.js';
import { assertEmbedderMatches, getIndex, type IndexRecord } from './index-catalog.js';
import { abortBuild, retireStandby } from './migration-lifecycle.js';

export interface ReplayOptions {
  collection: string;
  /** Make the rebuilt index the one searches read once it is verified (default true). */
  activate?: boolean;
  /** Drop the previous version after the cut-over (default true); otherwise it stays the standby. */
  dropPrevious?: boolean;
  /** Proceed although the stream has lost its beginning, or cut over although verification failed. */
  force?: boolean;
  batchSize?: number;
  onProgress?: (replayed: number, total: number) => void;
  onStage?: (stage: BuildStage, detail: string) => void;
  /** How long to wait for every writer process to pick up the new index. */
  writersTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface ReplayResult {
  index: IndexRecord;
  replayed: number;
  lastSequence: number;
  /** Source rows and records of the new version, compared id by id before the cut-over. */
  sourceRows: number;
  indexRecords: number;
  activated: boolean;
  retired: IndexRecord[];
  report: IndexBuildReport;
}

/** Attempts at a replayed batch that fails transiently (the store or embedder away). */
const TRANSIENT_ATTEMPTS = 8;

/**
 * Rebuilds a collection's index by replaying its change events from the start of the stream
 * into a new version beside the active one, through the index-version lifecycle
 * (`buildIndexVersion`): writer handshake, fill (here: from the stream), verification against
 * the source, atomic cut-over, then the previous version is dropped (or kept as the standby).
 * The replayed events re-read the source rows, so the result is the source's current state, not
 * the state at each event; changes made meanwhile reach the new version through the live
 * consumers. The stream must hold every row's history (setup publishes a backfill event for each
 * row when a bus collection is created); a version that misses rows is discarded.
 */
export async function replayIndex(
  runtime: VectorsyncRuntime,
  bus: EventBus,
  logger: Logger,
  options: ReplayOptions,
): Promise<ReplayResult> {
  const collection = runtime.collection(options.collection);
  const name = collection.name;
  if (!collection.definition.config.sync.bus) {
    throw new VectorsyncError(
      ErrorCode.ConfigInvalid,
      `collection "${name}" does not publish to the event bus (collections.${name}.sync.bus); rebuild it from Postgres with \`vectorsync reembed --collection ${name}\``,
      { details: { collection: name } },
    );
  }
  const stream = await bus.info();
  if (stream.firstSequence > 1 && !options.force) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `the event stream no longer starts at its beginning (first sequence ${stream.firstSequence}): older events were discarded (bus.maxAgeHours or stream limits), so a replay would miss rows. Rebuild from Postgres instead (\`vectorsync reembed --collection ${name}\`), or pass --force`,
      { details: { firstSequence: stream.firstSequence } },
    );
  }
  await runtime.refreshIndexes();
  const active = runtime.activeTarget(name);
  if (active.record.store !== collection.storeName) {
    throw new VectorsyncError(
      ErrorCode.ConfigInvalid,
      `collection "${name}" is served by store "${active.record.store}" but the config names "${collection.storeName}": finish or roll back the store migration first`,
      {
        details: { collection: name, indexStore: active.record.store, configuredStore: collection.storeName },
      },
    );
  }

  // A model change is `reembed`: it gates the cut-over on judged queries and keeps the old
  // version for rollback, which a replay (dropping the previous version) would not.
  assertEmbedderMatches(active.record, collection.embedder);

  let replayed = 0;
  let lastSequence = 0;
  const fill: VersionFill = {
    source: `the event stream (${stream.messages} events)`,
    run: async (context) => {
      const result = await replayInto(runtime, bus, {
        collection: name,
        indexId: context.indexId,
        batchSize: options.batchSize ?? runtime.config.sync.batchSize,
        logger: context.logger,
        ...(context.signal ? { signal: context.signal } : {}),
        onProgress: (done) => {
          context.onProgress(done, Math.max(done, stream.lastSequence));
          options.onProgress?.(done, stream.lastSequence);
        },
      });
      replayed = result.done;
      lastSequence = result.lastSequence;
      return result;
    },
  };
  const report = await buildIndexVersion(runtime, {
    collection: name,
    store: active.record.store,
    command: 'replay',
    fill,
    bus,
    cutover: options.activate !== false,
    force: options.force ?? false,
    logger,
    ...(options.writersTimeoutMs !== undefined ? { writerTimeoutMs: options.writersTimeoutMs } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onStage ? { onStage: options.onStage } : {}),
  });
  if (!report.verified && !report.forced) {
    // A replay is repeatable but never more complete: a version missing rows is of no use.
    await abortBuild(runtime, name, logger);
    throw new VectorsyncError(
      ErrorCode.MigrationNotVerified,
      `the replayed version ${report.to.location} was discarded: ${report.problems.join('; ')}. Does the stream hold every row's history (was the bus enabled after the rows existed)? Rebuild from Postgres with \`vectorsync reembed --collection ${name}\``,
      { details: { collection: name, problems: report.problems } },
    );
  }
  const retired: IndexRecord[] = [];
  if (report.cutover && options.dropPrevious !== false)
    retired.push(await retireStandby(runtime, name, logger));
  const index = await getIndex(runtime.db, report.to.indexId);
  logger.info(
    { collection: name, index: report.to.location, replayed, retired: retired.map((r) => r.location) },
    'replay complete',
  );
  return {
    index,
    replayed,
    lastSequence,
    sourceRows: report.completeness.compared.source,
    indexRecords: report.completeness.compared.index,
    activated: report.cutover,
    retired,
    report,
  };
}

/**
 * Applies every event of the collection's stream, in order, to one index version. A batch that
 * fails transiently is tried again; a row that cannot be indexed is counted (it fails on every
 * version alike, and the live consumer already recorded it).
 */
async function replayInto(
  runtime: VectorsyncRuntime,
  bus: EventBus,
  options: {
    collection: string;
    indexId: number;
    batchSize: number;
    logger: Logger;
    signal?: AbortSignal;
    onProgress: (done: number) => void;
  },
): Promise<FillResult & { lastSequence: number }> {
  const applier = new Applier(runtime, options.logger);
  const result: FillResult = { done: 0, applied: 0, skipped: 0, failed: 0, failures: [] };
  const { lastSequence } = await bus.replay(
    { collections: [options.collection], batchSize: options.batchSize },
    async (messages) => {
      const events = messages.map(toChangeEvent);
      for (let attempt = 1; ; attempt++) {
        throwIfAborted(options.signal);
        const { outcomes } = await applier.apply(events, { targetIndexIds: [options.indexId] });
        const transient = [...outcomes.values()].find(
          (outcome) => outcome.status === 'failed' && outcome.transient,
        );
        if (transient && transient.status === 'failed') {
          if (attempt >= TRANSIENT_ATTEMPTS) throw transient.error;
          await sleep(
            Math.max(requestedWaitMs(transient.error), backoffDelay(attempt, 200, 10_000)),
            options.signal,
          );
          continue;
        }
        tallyOutcomes(result, events, outcomes);
        break;
      }
      result.done += messages.length;
      options.onProgress(result.done);
    },
  );
  return { ...result, lastSequence };
}
