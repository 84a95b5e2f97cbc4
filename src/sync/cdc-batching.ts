import { type ApplyStats, emptyApplyStats } from './applier.js';
import type { CdcTransaction } from './cdc-change-extractor.js';
import type { ChangeEvent, EventOutcome } from './change-event.js';
import type { ChangeRouter } from './change-router.js';

type Routed = Awaited<ReturnType<ChangeRouter['route']>>;

/**
 * Batching for the CDC consumer: which received transactions are applied together, and how a
 * batch is split into parts applied side by side.
 */

/**
 * Takes the next batch off the front of `ready`: whole transactions, in commit order, up to
 * `maxEvents` events (a larger transaction alone); with `oneAtATime` a single transaction.
 */
export function takeBatch(ready: CdcTransaction[], maxEvents: number, oneAtATime: boolean): CdcTransaction[] {
  const batch: CdcTransaction[] = [];
  let events = 0;
  while (
    ready.length > 0 &&
    (batch.length === 0 || (!oneAtATime && events + ready[0]!.events.length <= maxEvents))
  ) {
    const transaction = ready.shift()!;
    batch.push(transaction);
    events += transaction.events.length;
  }
  return batch;
}

/**
 * Splits a batch into `parts` groups by row: events of one row stay in one group, in order, so
 * the groups can be applied concurrently. A batch holding a TRUNCATE is not split (it orders
 * everything), nor one too small to gain from it.
 */
export function splitByRow(events: readonly ChangeEvent[], parts: number): ChangeEvent[][] {
  if (parts <= 1 || events.length < parts * 50 || events.some((event) => event.op === 'truncate'))
    return [[...events]];
  const groups: ChangeEvent[][] = Array.from({ length: parts }, () => []);
  for (const event of events)
    groups[partOf(`${event.collection}\u0000${event.sourceId}`, parts)]!.push(event);
  return groups.filter((group) => group.length > 0);
}

/** The outcomes, published ids and statistics of the parts of one batch, as one. */
export function mergeRouted(parts: readonly Routed[]): Routed {
  const merged: Routed = {
    outcomes: new Map<string, EventOutcome>(),
    stats: emptyApplyStats(),
    published: new Set<string>(),
  };
  for (const part of parts) {
    for (const [id, outcome] of part.outcomes) merged.outcomes.set(id, outcome);
    for (const id of part.published) merged.published.add(id);
    for (const key of Object.keys(merged.stats) as Array<keyof ApplyStats>)
      merged.stats[key] += part.stats[key];
  }
  return merged;
}

/** A stable part number for a row (FNV-1a of its key). */
function partOf(key: string, parts: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % parts;
}
