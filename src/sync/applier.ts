import type { EmbeddingProfile } from '../embedders/embedding-profile.js';
import { ErrorCode, errorCodeOf, isVectorsyncError, VectorsyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import { enqueueEveryRow } from '../outbox/outbox-records.js';
import type { EmbeddedDocument } from '../pipeline/index-document.js';
import { readSourcePresence, readSourceRows, type SourceRow } from '../pipeline/source-reader.js';
import type { CollectionRuntime, IndexTarget, VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import type { ApplyResult, DeleteRequest } from '../stores/vector-store.js';
import type { ChangeEvent, EventOutcome } from './change-event.js';
import { withCollectionApplyLock } from './collection-apply-lock.js';

export interface ApplyOptions {
  targetIndexIds?: readonly number[];
  /**
   * Postgres is the truth: a row that exists in the source is written even where the index
   * holds a newer version or a tombstone that contradicts the source (reconciliation's repairs).
   * Such a write is verified against the source afterwards (see `overwrite`).
   */
  authoritative?: boolean;
}

/** Errors that say the row itself cannot be indexed (not that indexing it failed this time). */
const UNBUILDABLE: ReadonlySet<string> = new Set([
  ErrorCode.TemplateFieldMissing,
  ErrorCode.TenantRequired,
  ErrorCode.InvalidFieldValue,
]);

export interface ApplyStats {
  events: number;
  upserts: number;
  deletes: number;
  skippedStale: number;
  /** Records written over a newer record or a tombstone because the source says otherwise. */
  overwritten: number;
  failed: number;
  embedded: number;
  embeddingCacheHits: number;
}

export function emptyApplyStats(events = 0): ApplyStats {
  return {
    events,
    upserts: 0,
    deletes: 0,
    skippedStale: 0,
    overwritten: 0,
    failed: 0,
    embedded: 0,
    embeddingCacheHits: 0,
  };
}

/** Everything one collection's apply reads and writes, passed between its steps. */
interface CollectionRun {
  collection: CollectionRuntime;
  options: ApplyOptions;
  stats: ApplyStats;
  /** Per source id: the outcome so far (failed beats applied beats skipped). */
  outcomes: Map<string, EventOutcome>;
}

/**
 * Brings the indexes of the changed rows to the rows' current source state. Events for the
 * same row in one batch collapse into one read and one write; the store's version guard
 * makes the result independent of delivery order and repetition.
 *
 * Two rules keep it exact when events are incomplete or the index contradicts the source:
 * - a row gone from the source leaves no record under any tenant (an id is unique in its
 *   table, wherever the index stored it);
 * - a write whose version is unknown (a delete captured with only the key) or that overrides
 *   the guard is checked against the source after it landed, and corrected with ordinary,
 *   version-guarded writes; so it can never leave the index older than the source.
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
    const stats = emptyApplyStats(events.length);
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
      const run: CollectionRun = { collection, options, stats, outcomes: new Map() };
      await this.applyCollection(run, collectionEvents, outcomes);
    }
    for (const outcome of outcomes.values()) if (outcome.status === 'failed') stats.failed++;
    return { outcomes, stats };
  }

  private async applyCollection(
    run: CollectionRun,
    events: ChangeEvent[],
    eventOutcomes: Map<string, EventOutcome>,
  ): Promise<void> {
    const { collection } = run;
    const log = this.logger.child({ collection: collection.name });
    const targets = selectTargets(collection, run.options);
    if (targets.length === 0) {
      const error = new VectorsyncError(
        ErrorCode.IndexNotFound,
        `collection "${collection.name}" has no index; run \`vectorsync setup\``,
      );
      for (const event of events) eventOutcomes.set(event.eventId, failure(error));
      return;
    }

    const eventsById = new Map<string, ChangeEvent[]>();
    for (const event of events) {
      if (event.op === 'truncate') continue;
      const list = eventsById.get(event.sourceId) ?? [];
      list.push(event);
      eventsById.set(event.sourceId, list);
    }
    const truncating = events.some((event) => event.op === 'truncate');
    const mode = truncating ? 'exclusive' : 'shared';
    const locked = withCollectionApplyLock(this.runtime.db, collection.name, mode, async () => {
      if (truncating) {
        // Emptied, then rebuilt from the source as it is now: that covers every other change.
        const outcome = await this.truncateAndReindex(run, targets);
        for (const event of events) eventOutcomes.set(event.eventId, outcome);
        if (outcome.status === 'applied')
          log.info(
            { events: events.map((event) => event.eventId) },
            'source truncated; index emptied and rebuilt',
          );
        return;
      }
      try {
        await this.applyRows(run, eventsById);
      } catch (error) {
        // Only reading the source throws here; every write reports per id.
        for (const id of eventsById.keys()) run.outcomes.set(id, failure(error));
      }
    });
    try {
      await locked;
    } catch (error) {
      const unavailable = new VectorsyncError(
        ErrorCode.SourceUnavailable,
        `could not take the apply lock of "${collection.name}": ${(error as Error).message}`,
        { cause: error, transient: true },
      );
      for (const event of events) eventOutcomes.set(event.eventId, failure(unavailable));
      return;
    }
    if (truncating) return;

    for (const [id, list] of eventsById) {
      const outcome = run.outcomes.get(id) ?? { status: 'applied' };
      for (const event of list) eventOutcomes.set(event.eventId, outcome);
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

  /**
   * A TRUNCATE (under the exclusive apply lock): the indexes are emptied and every row the
   * source holds by then (inserted after the TRUNCATE, perhaps already applied by another
   * worker and emptied away just now) gets an outbox event, in one statement. The lock is held
   * only that long; the workers index those rows like any change, in batches.
   */
  private async truncateAndReindex(
    run: CollectionRun,
    targets: readonly IndexTarget[],
  ): Promise<EventOutcome> {
    try {
      for (const target of targets) await target.store.truncate(target.spec);
      await enqueueEveryRow(this.runtime.db, run.collection.definition, 'truncate');
      return { status: 'applied' };
    } catch (error) {
      return failure(error);
    }
  }

  private async applyRows(run: CollectionRun, eventsById: Map<string, ChangeEvent[]>): Promise<void> {
    const rows = await this.read(run, [...eventsById.keys()]);
    const present: SourceRow[] = [];
    const deletes: DeleteRequest[] = [];
    for (const [id, list] of eventsById) {
      const row = rows.get(id);
      if (row) {
        present.push(row);
        // Keys this row used to have under another tenant are removed (the trigger also says
        // so). Every record of an earlier state is older than the row, whatever the event says.
        for (const event of list) {
          if (event.tenant === null || event.tenant === '' || event.tenant === row.tenant) continue;
          const below = row.version - 1;
          deletes.push({
            tenant: event.tenant,
            id,
            version: event.sourceVersion === null ? below : Math.min(event.sourceVersion, below),
          });
        }
      } else {
        // Gone from the source: no record of this id may remain, under whichever tenant it is
        // stored (a tenant move followed by a delete leaves it under the old one).
        const versions = list
          .map((event) => event.sourceVersion)
          .filter((version): version is number => version !== null);
        // A revisioned document's delete carries no version on purpose (outbox/enqueue-many.ts):
        // an older upsert's version in the same batch must not stand in for it.
        const unknown =
          run.collection.definition.revisioned && list.some((event) => event.sourceVersion === null);
        deletes.push({
          tenant: null,
          id,
          version: versions.length > 0 && !unknown ? Math.max(...versions) : null,
        });
      }
    }

    await this.deleteRecords(run, deletes);
    const written = await this.upsertRows(run, present, false);

    // Writes to check against the source now that they have landed.
    const recheck = deletes
      .filter((request) => request.tenant === null && request.version === null)
      .map((request) => request.id);
    const refused = run.options.authoritative
      ? [...written.entries()].filter(([, result]) => result.outcome === 'skipped_stale').map(([id]) => id)
      : [];
    if (recheck.length + refused.length > 0) await this.overwrite(run, [...recheck, ...refused]);
  }

  /**
   * The source decides, for ids whose last write may have contradicted it: a delete that did
   * not know the version it deleted (it removed whatever was stored, perhaps a row re-inserted
   * meanwhile), or an authoritative repair the version guard refused. Rows present now are
   * written over whatever the index holds; then the source is read again and anything that
   * changed since is written through the ordinary guard, so a concurrent change always wins.
   */
  private async overwrite(run: CollectionRun, ids: readonly string[]): Promise<void> {
    const rows = await this.read(run, ids);
    const present = [...rows.values()];
    if (present.length === 0) return;
    const written = await this.upsertRows(run, present, true);
    const now = await this.read(
      run,
      present.map((row) => row.id),
    );
    const deletes: DeleteRequest[] = [];
    const changed: SourceRow[] = [];
    for (const row of present) {
      if (written.get(row.id)?.outcome === 'failed') continue;
      const current = now.get(row.id);
      if (!current) deletes.push({ tenant: null, id: row.id, version: row.version });
      else if (current.version !== row.version || current.tenant !== row.tenant) changed.push(current);
    }
    await this.deleteRecords(run, deletes);
    await this.upsertRows(run, changed, false);
  }

  private async read(run: CollectionRun, ids: readonly string[]): Promise<Map<string, SourceRow>> {
    try {
      return await readSourceRows(this.runtime.db, run.collection.definition, ids);
    } catch (error) {
      throw new VectorsyncError(
        ErrorCode.SourceUnavailable,
        `reading source rows of "${run.collection.name}" failed: ${(error as Error).message}`,
        { cause: error, transient: true },
      );
    }
  }

  private async deleteRecords(run: CollectionRun, deletes: DeleteRequest[]): Promise<void> {
    if (deletes.length === 0) return;
    const results = await this.forEachTarget(
      run,
      (target) => target.store.delete(target.spec, deletes),
      deletes.map((request) => request.id),
    );
    for (const result of results) record(run, result, 'delete');
  }

  /**
   * Builds, embeds and writes the rows' documents; the results per id (absent: not written).
   * Each index version gets documents embedded with its own embedder: while a model change is
   * under way the old and the new version are written with different models.
   */
  private async upsertRows(
    run: CollectionRun,
    rows: readonly SourceRow[],
    overwrite: boolean,
  ): Promise<Map<string, ApplyResult>> {
    const results = new Map<string, ApplyResult>();
    if (rows.length === 0) return results;
    const merged = new Map<string, ApplyResult>();
    const writtenDocuments = new Map<string, EmbeddedDocument>();
    let unbuildableRemoved = false;
    for (const { embedding, targets } of byEmbedding(selectTargets(run.collection, run.options))) {
      if (embedding instanceof Error) {
        for (const row of rows) mergeResult(merged, { id: row.id, outcome: 'failed', error: embedding });
        continue;
      }
      const { documents, unbuildable } = await this.documentsFor(run, rows, embedding);
      if (!unbuildableRemoved) {
        // A row that cannot be indexed any more must not keep serving an older state of itself:
        // its records go (the event still ends failed, with why). Building does not depend on
        // the embedder, so one version's verdict is every version's.
        unbuildableRemoved = true;
        await this.deleteRecords(
          run,
          unbuildable.map((row) => ({ tenant: null, id: row.id, version: row.version })),
        );
      }
      if (documents.length === 0) continue;
      for (const document of documents) writtenDocuments.set(document.id, document);
      const written = await this.forEachTarget(
        run,
        (target) => target.store.upsert(target.spec, documents, overwrite ? { overwrite: true } : undefined),
        documents.map((document) => document.id),
        targets,
      );
      for (const result of written) mergeResult(merged, result);
    }
    for (const result of merged.values()) {
      // Deleted between our read and our write: its delete event is already captured.
      const vanished =
        result.outcome === 'failed' &&
        isVectorsyncError(result.error, ErrorCode.SourceRowMissing) &&
        result.error.details.id === result.id;
      const outcome: ApplyResult = vanished ? { id: result.id, outcome: 'skipped_stale' } : result;
      results.set(result.id, outcome);
      if (overwrite && outcome.outcome === 'applied') run.stats.overwritten++;
      record(run, outcome, 'upsert');
    }
    await this.removeVanished(run, [...writtenDocuments.values()], results);
    return results;
  }

  /**
   * A store with no foreign key to the source accepts a write for a row deleted after we read
   * it. When that delete was applied before our write landed (by another worker, and without
   * a version: a CDC delete knows only the key), nothing else would ever remove the record. So
   * the source is asked again once the writes have landed, and what is gone by now is deleted
   * at the version just written. Either this check or the delete's own apply comes after both
   * the source delete and our write: the record cannot outlive its row.
   */
  private async removeVanished(
    run: CollectionRun,
    documents: readonly EmbeddedDocument[],
    results: Map<string, ApplyResult>,
  ): Promise<void> {
    if (
      selectTargets(run.collection, run.options).every((target) => target.store.capabilities.sourceForeignKey)
    )
      return;
    const written = documents.filter((document) => results.get(document.id)?.outcome === 'applied');
    if (written.length === 0) return;
    let present: Set<string>;
    try {
      present = await readSourcePresence(
        this.runtime.db,
        run.collection.definition,
        written.map((document) => document.id),
      );
    } catch (error) {
      // Unverified writes are not done: the events are retried, and their apply reads again.
      const unavailable = new VectorsyncError(
        ErrorCode.SourceUnavailable,
        `checking the written rows of "${run.collection.name}" against the source failed: ${(error as Error).message}`,
        { cause: error, transient: true },
      );
      for (const document of written) setFailed(run, document.id, unavailable);
      return;
    }
    const vanished = written
      .filter((document) => !present.has(document.id))
      .map((document) => ({ tenant: null, id: document.id, version: document.version }));
    await this.deleteRecords(run, vanished);
  }

  /**
   * Documents with their vectors, built and embedded off the event loop (runtime.documents); a
   * row that cannot be (or exceeds its budget) fails alone. Rows that cannot be built at all
   * (no text, no tenant, no usable version) are returned too: their records must go.
   */
  private async documentsFor(
    run: CollectionRun,
    rows: readonly SourceRow[],
    embedding: EmbeddingProfile,
  ): Promise<{ documents: EmbeddedDocument[]; unbuildable: SourceRow[] }> {
    const prepared = await this.runtime.documents.prepare(run.collection, rows, embedding);
    run.stats.embedded += prepared.stats.embedded;
    run.stats.embeddingCacheHits += prepared.stats.cached;
    const byId = new Map(rows.map((row) => [row.id, row]));
    const documents: EmbeddedDocument[] = [];
    const unbuildable: SourceRow[] = [];
    for (const result of prepared.documents) {
      if ('document' in result) {
        documents.push(result.document);
        continue;
      }
      setFailed(run, result.id, result.error);
      if (UNBUILDABLE.has(errorCodeOf(result.error))) unbuildable.push(byId.get(result.id)!);
    }
    return { documents, unbuildable };
  }

  /** Runs a write against every live index; one index failing fails the id (it is retried for all). */
  private async forEachTarget(
    run: CollectionRun,
    write: (target: IndexTarget) => Promise<ApplyResult[]>,
    ids: string[],
    targets: readonly IndexTarget[] = selectTargets(run.collection, run.options),
  ): Promise<ApplyResult[]> {
    const merged = new Map<string, ApplyResult>();
    for (const target of targets) {
      let results: ApplyResult[];
      try {
        results = await write(target);
      } catch (error) {
        const wrapped = isVectorsyncError(error)
          ? error
          : new VectorsyncError(ErrorCode.StoreFailed, (error as Error).message, { cause: error });
        results = ids.map((id) => ({ id, outcome: 'failed' as const, error: wrapped }));
      }
      for (const result of results) mergeResult(merged, result);
    }
    return [...merged.values()];
  }
}

/** The targets grouped by the embedding profile they are written with (one group, but during a model change). */
function byEmbedding(
  targets: readonly IndexTarget[],
): Array<{ embedding: IndexTarget['embedding']; targets: IndexTarget[] }> {
  const groups = new Map<IndexTarget['embedding'], IndexTarget[]>();
  for (const target of targets) {
    const group = groups.get(target.embedding) ?? [];
    group.push(target);
    groups.set(target.embedding, group);
  }
  return [...groups].map(([embedding, group]) => ({ embedding, targets: group }));
}

function mergeResult(merged: Map<string, ApplyResult>, result: ApplyResult): void {
  const previous = merged.get(result.id);
  if (!previous || rank(result) > rank(previous)) merged.set(result.id, result);
}

function selectTargets(collection: CollectionRuntime, options: ApplyOptions): readonly IndexTarget[] {
  // Read at each use: the live list can change while a batch is in flight (a new build).
  if (!options.targetIndexIds) return collection.targets;
  return collection.targets.filter((target) => options.targetIndexIds!.includes(target.record.id));
}

/** failed beats applied beats skipped: an id is done only when every index has it. */
function rank(result: ApplyResult): number {
  return result.outcome === 'failed' ? 2 : result.outcome === 'applied' ? 1 : 0;
}

function record(run: CollectionRun, result: ApplyResult, kind: 'upsert' | 'delete'): void {
  const existing = run.outcomes.get(result.id);
  if (existing?.status === 'failed') return;
  if (result.outcome === 'failed') {
    setFailed(run, result.id, result.error ?? new Error('store reported a failure without an error'));
    return;
  }
  if (result.outcome === 'skipped_stale') {
    run.stats.skippedStale++;
    if (!existing) run.outcomes.set(result.id, { status: 'skipped' });
    return;
  }
  if (kind === 'upsert') run.stats.upserts++;
  else run.stats.deletes++;
  run.outcomes.set(result.id, { status: 'applied' });
}

function setFailed(run: CollectionRun, id: string, error: unknown): void {
  run.outcomes.set(id, failure(error));
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
