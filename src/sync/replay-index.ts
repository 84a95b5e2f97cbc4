import type { EventBus } from '../bus/event-bus.js';
import { quoteIdent } from '../db/sql-identifier.js';
import { coerceError, ErrorCode, VectorsyncError } from '../errors.js';
import {
  activateIndex,
  createIndexRecord,
  type IndexRecord,
  retireIndex,
} from '../index-versions/index-catalog.js';
import type { Logger } from '../logger.js';
import { indexSpecFor, type VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { Applier } from './applier.js';
import { backoffDelay } from './backoff.js';
import { toChangeEvent } from './bus-consumer.js';
import { databaseNow, waitForIndexWriters, writerStaleAfterMs } from './index-watcher.js';
import { recordFailedEvents } from './outbox-queries.js';

export interface ReplayOptions {
  collection: string;
  /** Make the rebuilt index the one searches read once it matches the source (default true). */
  activate?: boolean;
  /** Drop the previous index after the cut-over (default true). */
  dropPrevious?: boolean;
  /** Proceed even if the stream has lost its beginning or the counts disagree. */
  force?: boolean;
  batchSize?: number;
  onProgress?: (replayed: number, total: number) => void;
  /** How long to wait for every writer process to pick up the new index. */
  writersTimeoutMs?: number;
}

export interface ReplayResult {
  index: IndexRecord;
  replayed: number;
  lastSequence: number;
  sourceRows: number;
  indexRecords: number;
  activated: boolean;
  retired: IndexRecord[];
}

/**
 * Rebuilds a collection's index by replaying its change events from the start of the stream
 * into a new index version beside the active one, then cuts over. Every live writer writes to
 * the new index from the moment it exists, so changes made during the replay are not missed;
 * the replayed events re-read the source rows, so the result is the source's current state, not
 * the state at each event. The stream must hold every row's history: the backfill events that
 * `setup` publishes when a bus collection is created make that true.
 */
export async function replayIndex(
  runtime: VectorsyncRuntime,
  bus: EventBus,
  logger: Logger,
  options: ReplayOptions,
): Promise<ReplayResult> {
  const collection = runtime.collection(options.collection);
  const { definition } = collection;
  const log = logger.child({ collection: collection.name, replay: true });
  if (!definition.config.sync.bus) {
    throw new VectorsyncError(
      ErrorCode.ConfigInvalid,
      `collection "${collection.name}" does not publish to the event bus (collections.${collection.name}.sync.bus); rebuild it from Postgres with \`vectorsync reembed --collection ${collection.name}\``,
      { details: { collection: collection.name } },
    );
  }
  const stream = await bus.info();
  if (stream.firstSequence > 1 && !options.force) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `the event stream no longer starts at its beginning (first sequence ${stream.firstSequence}): older events were discarded (bus.maxAgeHours or stream limits), so a replay would miss rows. Rebuild from Postgres instead (\`vectorsync reembed --collection ${collection.name}\`), or pass --force`,
      { details: { firstSequence: stream.firstSequence } },
    );
  }

  const active = runtime.activeTarget(collection.name);
  const index = await createIndexRecord(runtime.db, {
    collection: collection.name,
    store: active.storeName,
    storeKind: active.record.storeKind,
    embedding: collection.embedding,
    params: active.record.params,
    state: 'building',
  });
  const spec = indexSpecFor(index, definition);
  log.info(
    { index: index.location, events: stream.lastSequence },
    'replaying the event stream into a new index',
  );
  try {
    await active.store.ensureIndex(spec);
    const writersTimeoutMs = options.writersTimeoutMs ?? writerStaleAfterMs(runtime.config.sync) * 2;
    // From here on every live writer also writes the new index.
    await runtime.refreshIndexes();
    await waitForIndexWriters(runtime.db, {
      since: await databaseNow(runtime.db),
      staleAfterMs: writerStaleAfterMs(runtime.config.sync),
      timeoutMs: writersTimeoutMs,
      logger: log,
    });

    const applier = new Applier(runtime, log);
    let replayed = 0;
    const { lastSequence } = await bus.replay(
      { collections: [collection.name], batchSize: options.batchSize ?? runtime.config.sync.batchSize },
      async (messages) => {
        const events = messages.map(toChangeEvent);
        for (let attempt = 1; ; attempt++) {
          const { outcomes } = await applier.apply(events, { targetIndexIds: [index.id] });
          const failures = events.flatMap((event) => {
            const outcome = outcomes.get(event.eventId);
            return outcome?.status === 'failed' ? [{ event, outcome }] : [];
          });
          const transient = failures.find(({ outcome }) => outcome.transient);
          if (transient) {
            if (attempt >= 8) throw transient.outcome.error;
            await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt, 200, 10_000)));
            continue;
          }
          // A row that cannot be indexed fails on every index alike: it joins the failed list.
          await recordFailedEvents(
            runtime.db,
            failures.map(({ event, outcome }) => ({
              event,
              error: outcome.error.message,
              code: outcome.code,
            })),
            'replay',
          );
          break;
        }
        replayed += messages.length;
        options.onProgress?.(replayed, stream.lastSequence);
      },
    );

    const { sourceRows, indexRecords, activeRecords, complete } = await compareCounts(
      runtime,
      collection.name,
      spec,
      active,
    );
    if (!complete)
      log.warn(
        { sourceRows, indexRecords, activeRecords },
        'the replayed index does not hold every source row',
      );
    if (!complete && !options.force) {
      throw new VectorsyncError(
        ErrorCode.InvalidRequest,
        `the replayed index holds ${indexRecords} records but the source has ${sourceRows} rows (and the active index ${activeRecords}): the stream does not contain every row's history (was the bus enabled after the rows existed?). The new index was discarded; rebuild from Postgres with \`vectorsync reembed --collection ${collection.name}\``,
        { details: { sourceRows, indexRecords, activeRecords } },
      );
    }
    if (options.activate === false) {
      return { index, replayed, lastSequence, sourceRows, indexRecords, activated: false, retired: [] };
    }
    const { activated, retired } = await activateIndex(runtime.db, collection.name, index.id);
    await runtime.refreshIndexes();
    if (options.dropPrevious !== false && retired.length > 0) {
      // Nobody may still be reading the old index when it goes.
      await waitForIndexWriters(runtime.db, {
        since: await databaseNow(runtime.db),
        staleAfterMs: writerStaleAfterMs(runtime.config.sync),
        timeoutMs: writersTimeoutMs,
        logger: log,
      });
      for (const old of retired) await active.store.drop(indexSpecFor(old, definition));
    }
    log.info(
      { index: activated.location, replayed, retired: retired.map((r) => r.location) },
      'replay complete',
    );
    return { index: activated, replayed, lastSequence, sourceRows, indexRecords, activated: true, retired };
  } catch (error) {
    await retireIndex(runtime.db, index.id).catch(() => undefined);
    await runtime.refreshIndexes().catch(() => undefined);
    await active.store
      .drop(spec)
      .catch((dropError: unknown) =>
        log.warn(
          { err: coerceError(dropError).message, index: index.location },
          'could not drop abandoned index',
        ),
      );
    throw error;
  }
}

/** Source rows against index records, allowing a few seconds for in-flight sync to land. */
/**
 * The replayed index is complete when it holds as many records as the source has rows, or as
 * many as the active index: under sustained writes the source runs ahead of both indexes by
 * the changes still in the sync pipeline, while the two indexes receive the same live writes.
 */
async function compareCounts(
  runtime: VectorsyncRuntime,
  name: string,
  spec: ReturnType<typeof indexSpecFor>,
  active: ReturnType<VectorsyncRuntime['activeTarget']>,
): Promise<{ sourceRows: number; indexRecords: number; activeRecords: number; complete: boolean }> {
  const { definition } = runtime.collection(name);
  const activeSpec = indexSpecFor(active.record, definition);
  let last = { sourceRows: 0, indexRecords: -1, activeRecords: -1, complete: false };
  for (let attempt = 0; attempt < 10; attempt++) {
    const source = await runtime.db.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM ${definition.tableSql} WHERE ${quoteIdent(definition.tenantColumn.name)} IS NOT NULL`,
    );
    const [indexRecords, activeRecords] = await Promise.all([
      active.store.count(spec),
      active.store.count(activeSpec),
    ]);
    const sourceRows = Number(source.rows[0]!.n);
    const complete = indexRecords === sourceRows || indexRecords === activeRecords;
    last = { sourceRows, indexRecords, activeRecords, complete };
    if (complete) return last;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return last;
}
