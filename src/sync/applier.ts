import { ErrorCode, errorCodeOf, isVectorsyncError, VectorsyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { EmbeddedDocument } from '../pipeline/index-document.js';
import { readSourceRows, type SourceRow } from '../pipeline/source-reader.js';
import type { CollectionRuntime, IndexTarget, VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import type { ApplyResult, DeleteRequest } from '../stores/vector-store.js';
import type { ChangeEvent, EventOutcome } from './change-event.js';

export interface ApplyOptions {
  targetIndexIds?: readonly number[];
}

export interface ApplyStats {
  events: number;
  upserts: number;
  deletes: number;
  skippedStale: number;
  failed: number;
  embedded: number;
  embeddingCacheHits: number;
}

/**
 * Brings the indexes of the changed rows to the rows' current source state. Events for the
 * same row in one batch collapse into one read and one write; the store's version guard
 * makes the result independent of delivery order and repetition.
 */
export class Applier {
  constructor(
    private readonly runtime: VectorsyncRuntime,
    private readonly logger: Logger,
  ) {}

  /**
   * `targetIndexIds` restricts the writes to those live indexes (filling one index being built
   * beside the others, e.g. a replay or a store migration); by default every live index.
   */
  async apply(
    events: readonly ChangeEvent[],
    options: ApplyOptions = {},
  ): Promise<{ outcomes: Map<string, EventOutcome>; stats: ApplyStats }> {
    const outcomes = new Map<string, EventOutcome>();
    const stats: ApplyStats = {
      events: events.length,
      upserts: 0,
      deletes: 0,
      skippedStale: 0,
      failed: 0,
      embedded: 0,
      embeddingCacheHits: 0,
    };
    const byCollection = new Map<string, ChangeEvent[]>();
    for (const event of events) {
      const list = byCollection.get(event.collection) ?? [];
      list.push(event);
      byCollection.set(event.collection, list);
    }
    for (const [name, collectionEvents] of byCollection) {
      let collection: CollectionRuntime;
      try {
        collection = this.runtime.collection(name);
      } catch (error) {
        for (const event of collectionEvents) outcomes.set(event.eventId, failure(error));
        continue;
      }
      await this.applyCollection(collection, collectionEvents, outcomes, stats, options);
    }
    for (const outcome of outcomes.values()) if (outcome.status === 'failed') stats.failed++;
    return { outcomes, stats };
  }

  private async applyCollection(
    collection: CollectionRuntime,
    events: ChangeEvent[],
    outcomes: Map<string, EventOutcome>,
    stats: ApplyStats,
    options: ApplyOptions,
  ): Promise<void> {
    const log = this.logger.child({ collection: collection.name });
    const targets = selectTargets(collection, options);
    if (targets.length === 0) {
      const error = new VectorsyncError(
        ErrorCode.IndexNotFound,
        `collection "${collection.name}" has no index; run \`vectorsync setup\``,
      );
      for (const event of events) outcomes.set(event.eventId, failure(error));
      return;
    }

    // A truncate empties the indexes before anything that came after it is applied.
    const truncates = events.filter((event) => event.op === 'truncate');
    if (truncates.length > 0) {
      try {
        for (const target of targets) await target.store.truncate(target.spec);
        for (const event of truncates) outcomes.set(event.eventId, { status: 'applied' });
        log.info({ events: truncates.map((event) => event.eventId) }, 'source truncated; index emptied');
      } catch (error) {
        for (const event of events) outcomes.set(event.eventId, failure(error));
        return;
      }
    }

    const eventsById = new Map<string, ChangeEvent[]>();
    for (const event of events) {
      if (event.op === 'truncate') continue;
      const list = eventsById.get(event.sourceId) ?? [];
      list.push(event);
      eventsById.set(event.sourceId, list);
    }
    if (eventsById.size === 0) return;

    let rows: Awaited<ReturnType<typeof readSourceRows>>;
    try {
      rows = await readSourceRows(this.runtime.db, collection.definition, [...eventsById.keys()]);
    } catch (error) {
      const wrapped = new VectorsyncError(
        ErrorCode.SourceUnavailable,
        `reading source rows of "${collection.name}" failed: ${(error as Error).message}`,
        {
          cause: error,
          transient: true,
        },
      );
      for (const list of eventsById.values())
        for (const event of list) outcomes.set(event.eventId, failure(wrapped));
      return;
    }

    const idOutcome = new Map<string, EventOutcome>();
    const toBuild: SourceRow[] = [];
    const deletes: DeleteRequest[] = [];
    for (const [id, list] of eventsById) {
      const row = rows.get(id);
      if (row) {
        // Keys this row used to have under another tenant are removed (the trigger also says so).
        for (const event of list) {
          if (event.tenant !== null && event.tenant !== '' && event.tenant !== row.tenant)
            deletes.push({ tenant: event.tenant, id, version: event.sourceVersion });
        }
        toBuild.push(row);
      } else {
        // Gone from the source: whatever the events said, the index must not have it.
        // Events arrive in capture order, so the last one knows the latest tenant.
        const latest = list[list.length - 1]!;
        const versions = list
          .map((event) => event.sourceVersion)
          .filter((version): version is number => version !== null);
        deletes.push({
          tenant: latest.tenant,
          id,
          version: versions.length > 0 ? Math.max(...versions) : null,
        });
      }
    }

    if (deletes.length > 0) {
      const results = await this.forEachTarget(
        collection,
        options,
        (target) => target.store.delete(target.spec, deletes),
        deletes.map((request) => request.id),
      );
      for (const result of results) record(idOutcome, result, stats, 'delete');
    }

    if (toBuild.length > 0) {
      // Built and embedded off the event loop; a row that cannot be (or exceeds its budget) fails alone.
      const prepared = await this.runtime.documents.prepare(collection, toBuild);
      stats.embedded += prepared.stats.embedded;
      stats.embeddingCacheHits += prepared.stats.cached;
      const documents: EmbeddedDocument[] = [];
      for (const result of prepared.documents) {
        if ('error' in result) {
          if (idOutcome.get(result.id)?.status !== 'failed') idOutcome.set(result.id, failure(result.error));
        } else documents.push(result.document);
      }
      if (documents.length > 0) {
        const results = await this.forEachTarget(
          collection,
          options,
          (target) => target.store.upsert(target.spec, documents),
          documents.map((document) => document.id),
        );
        for (const result of results) {
          // Deleted between our read and our write: its delete event is already in the outbox.
          const vanished =
            result.outcome === 'failed' &&
            isVectorsyncError(result.error, ErrorCode.SourceRowMissing) &&
            result.error.details.id === result.id;
          record(idOutcome, vanished ? { id: result.id, outcome: 'skipped_stale' } : result, stats, 'upsert');
        }
      }
    }

    for (const [id, list] of eventsById) {
      const outcome = idOutcome.get(id) ?? { status: 'applied' };
      for (const event of list) outcomes.set(event.eventId, outcome);
      if (outcome.status === 'failed') {
        log.warn(
          {
            id,
            tenant: list[0]!.tenant,
            events: list.map((event) => event.eventId),
            code: outcome.code,
            err: outcome.error.message,
          },
          'change not applied',
        );
      }
    }
  }

  /** Runs a write against every live index; one index failing fails the id (it is retried for all). */
  private async forEachTarget(
    collection: CollectionRuntime,
    options: ApplyOptions,
    write: (target: CollectionRuntime['targets'][number]) => Promise<ApplyResult[]>,
    ids: string[],
  ): Promise<ApplyResult[]> {
    const merged = new Map<string, ApplyResult>();
    for (const target of selectTargets(collection, options)) {
      let results: ApplyResult[];
      try {
        results = await write(target);
      } catch (error) {
        const wrapped = isVectorsyncError(error)
          ? error
          : new VectorsyncError(ErrorCode.StoreFailed, (error as Error).message, { cause: error });
        results = ids.map((id) => ({ id, outcome: 'failed' as const, error: wrapped }));
      }
      for (const result of results) {
        const previous = merged.get(result.id);
        if (!previous || rank(result) > rank(previous)) merged.set(result.id, result);
      }
    }
    return [...merged.values()];
  }
}

function selectTargets(collection: CollectionRuntime, options: ApplyOptions): IndexTarget[] {
  // Read at each use: the live list can change while a batch is in flight (a new build).
  if (!options.targetIndexIds) return collection.targets;
  return collection.targets.filter((target) => options.targetIndexIds!.includes(target.record.id));
}

/** failed beats applied beats skipped: an id is done only when every index has it. */
function rank(result: ApplyResult): number {
  return result.outcome === 'failed' ? 2 : result.outcome === 'applied' ? 1 : 0;
}

function record(
  outcomes: Map<string, EventOutcome>,
  result: ApplyResult,
  stats: ApplyStats,
  kind: 'upsert' | 'delete',
): void {
  const existing = outcomes.get(result.id);
  if (existing?.status === 'failed') return;
  if (result.outcome === 'failed') {
    outcomes.set(result.id, failure(result.error ?? new Error('store reported a failure without an error')));
    return;
  }
  if (result.outcome === 'skipped_stale') {
    stats.skippedStale++;
    if (!existing) outcomes.set(result.id, { status: 'skipped' });
    return;
  }
  if (kind === 'upsert') stats.upserts++;
  else stats.deletes++;
  outcomes.set(result.id, { status: 'applied' });
}

function failure(error: unknown): EventOutcome {
  const err = error instanceof Error ? error : new Error(String(error));
  return {
    status: 'failed',
    error: err,
    code: errorCodeOf(err),
    transient: isVectorsyncError(err) && err.transient,
  };
}
