import { ErrorCode, VectorsyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import { sourcePages } from '../pipeline/source-pages.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { Applier } from '../sync/applier.js';
import { backoffDelay, requestedWaitMs } from '../sync/backoff.js';
import type { ChangeEvent, EventOutcome } from '../sync/change-event.js';

export interface FillProgress {
  done: number;
  applied: number;
  skipped: number;
  failed: number;
}

export interface FillResult extends FillProgress {
  /** Rows that could not be written (not transient), with the first errors. */
  failures: Array<{ id: string; code: string; message: string }>;
}

/**
 * Builds a new index from Postgres, the source of truth: pages the source in primary-key
 * order and applies each page through the normal applier restricted to the new index (rows
 * are re-read, embedded through the cache and written version-guarded). Changes made during
 * the fill reach the new index through the sync workers, which already write to it.
 * Transient failures (the store or embedder down) retry the page; aborting stops between pages.
 */
export async function fillIndexFromSource(
  runtime: VectorsyncRuntime,
  options: {
    collection: string;
    indexId: number;
    pageSize: number;
    signal?: AbortSignal;
    logger: Logger;
    onProgress?: (progress: FillProgress) => void;
  },
): Promise<FillResult> {
  const collection = runtime.collection(options.collection);
  const applier = new Applier(runtime, options.logger);
  const result: FillResult = { done: 0, applied: 0, skipped: 0, failed: 0, failures: [] };
  let page = 0;
  for await (const keys of sourcePages(runtime.db, collection.definition, options.pageSize)) {
    const events: ChangeEvent[] = keys.map((key, index) => ({
      eventId: `fill:${page}:${index}`,
      collection: options.collection,
      tenant: key.tenant,
      sourceId: key.id,
      op: 'upsert',
      sourceVersion: key.version,
    }));
    page++;
    for (let attempt = 1; ; attempt++) {
      throwIfAborted(options.signal);
      const { outcomes } = await applier.apply(events, { targetIndexIds: [options.indexId] });
      const transient = [...outcomes.values()].find(
        (outcome) => outcome.status === 'failed' && outcome.transient,
      );
      if (transient && transient.status === 'failed') {
        const delay = Math.max(requestedWaitMs(transient.error), backoffDelay(attempt, 500, 30_000));
        options.logger.warn(
          { err: transient.error.message, retryInMs: delay },
          'fill page failed transiently; retrying',
        );
        await sleep(delay, options.signal);
        continue;
      }
      tallyOutcomes(result, events, outcomes);
      break;
    }
    result.done += keys.length;
    options.onProgress?.(result);
  }
  return result;
}

/** Adds a page's outcomes to a fill's counts, keeping the first failures with their errors. */
export function tallyOutcomes(
  result: FillResult,
  events: readonly ChangeEvent[],
  outcomes: ReadonlyMap<string, EventOutcome>,
): void {
  for (const event of events) {
    const outcome: EventOutcome = outcomes.get(event.eventId) ?? { status: 'applied' };
    if (outcome.status === 'failed') {
      result.failed++;
      if (result.failures.length < 20)
        result.failures.push({ id: event.sourceId, code: outcome.code, message: outcome.error.message });
    } else if (outcome.status === 'applied') result.applied++;
    else result.skipped++;
  }
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new VectorsyncError(ErrorCode.Aborted, 'store migration aborted');
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', aborted);
      resolve();
    }
    function aborted() {
      clearTimeout(timer);
      reject(new VectorsyncError(ErrorCode.Aborted, 'store migration aborted'));
    }
    signal?.addEventListener('abort', aborted, { once: true });
  });
}
