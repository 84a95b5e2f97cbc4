import type { Logger } from '../logger.js';
import { enqueueRepairs } from '../outbox/outbox-records.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { Applier } from '../sync/applier.js';
import type { ChangeEvent } from '../sync/change-event.js';
import type { RepairAction, RepairSummary } from './reconcile-report.js';

/**
 * Repairs drift through the normal apply path: each repair is a change event for the row,
 * applied by the Applier, which re-reads the row's current source state and writes through
 * the store's version guard; if sync wrote a newer version meanwhile, the guard keeps it
 * (reported as skipped). Where the guard refuses a row that exists (a tombstone at or above
 * its version, a record newer than the row), the repair is authoritative: the Applier writes
 * the row over it and then checks the source again, so a concurrent change still wins. An
 * orphan is a delete event carrying the version the index holds: the Applier deletes it only
 * if the row is still absent from the source (a row inserted meanwhile is indexed instead),
 * and the store deletes only that version or older, leaving a tombstone that a newer insert beats.
 */
export class Repairer {
  private readonly applier: Applier;
  private sequence = 0;

  constructor(
    private readonly runtime: VectorsyncRuntime,
    private readonly collection: string,
    private readonly indexId: number,
    logger: Logger,
  ) {
    this.applier = new Applier(runtime, logger);
  }

  async repair(actions: readonly RepairAction[], summary: RepairSummary, sampleSize: number): Promise<void> {
    if (actions.length === 0) return;
    const events: ChangeEvent[] = actions.map((action) => ({
      eventId: `reconcile-${++this.sequence}`,
      collection: this.collection,
      tenant: action.tenant,
      sourceId: action.id,
      op: action.action,
      sourceVersion: action.version,
    }));
    // Only the index that was compared: other live indexes have their own reconciliation.
    // Authoritative: a tombstone or a record that contradicts the source is overwritten (and
    // the write checked against the source afterwards), because Postgres is the truth.
    const { outcomes, stats } = await this.applier.apply(events, {
      targetIndexIds: [this.indexId],
      authoritative: true,
    });
    summary.overwritten += stats.overwritten;
    const failed: ChangeEvent[] = [];
    for (const event of events) {
      const outcome = outcomes.get(event.eventId) ?? { status: 'applied' as const };
      if (outcome.status === 'applied') summary.repaired++;
      else if (outcome.status === 'skipped') summary.skipped++;
      else if (outcome.status === 'failed') {
        summary.failed++;
        failed.push(event);
        if (summary.errors.length < sampleSize)
          summary.errors.push({ id: event.sourceId, code: outcome.code, message: outcome.error.message });
      }
    }
    if (failed.length > 0) summary.queued += await enqueueRepairs(this.runtime.db, failed);
  }
}
