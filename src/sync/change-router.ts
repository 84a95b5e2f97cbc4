import type { EventBus } from '../bus/event-bus.js';
import { coerceError, ErrorCode, VectorsyncError } from '../errors.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import type { Applier, ApplyStats } from './applier.js';
import type { ChangeEvent, EventOutcome } from './change-event.js';

/** Events that reach a bus consumer and fail there come back through the outbox with this origin. */
export const BUS_RETRY_ORIGIN = 'bus';

/**
 * Where a captured change goes next. Collections with `sync.bus` publish it to the event bus
 * (the bus consumers apply it, and any other consumer may react to it); the others apply it
 * directly. Either way the capture (outbox row, replication slot) is released only once this
 * resolves without a failure for the event.
 */
export class ChangeRouter {
  constructor(
    private readonly runtime: VectorsyncRuntime,
    private readonly applier: Applier,
    private readonly bus: EventBus | undefined,
  ) {}

  async route(
    events: ReadonlyArray<ChangeEvent & { origin?: string }>,
  ): Promise<{ outcomes: Map<string, EventOutcome>; stats: ApplyStats; published: Set<string> }> {
    const toPublish: ChangeEvent[] = [];
    const toApply: ChangeEvent[] = [];
    for (const event of events) {
      if (this.publishes(event)) toPublish.push(event);
      else toApply.push(event);
    }
    const applied = await this.applier.apply(toApply);
    const outcomes = applied.outcomes;
    if (toPublish.length > 0) {
      const outcome = await this.publish(toPublish);
      for (const event of toPublish) outcomes.set(event.eventId, outcome);
    }
    return { outcomes, stats: applied.stats, published: new Set(toPublish.map((event) => event.eventId)) };
  }

  private publishes(event: ChangeEvent & { origin?: string }): boolean {
    if (!this.bus || event.origin === BUS_RETRY_ORIGIN) return false;
    const collection = this.runtime.collections.get(event.collection);
    return collection?.definition.config.sync.bus === true;
  }

  private async publish(events: ChangeEvent[]): Promise<EventOutcome> {
    try {
      await this.bus!.publish(
        events.map((event) => ({
          collection: event.collection,
          tenant: event.tenant,
          id: event.sourceId,
          op: event.op,
          version: event.sourceVersion,
          capturedAt: (event.capturedAt ?? new Date()).toISOString(),
          origin: (event as { origin?: string }).origin ?? 'cdc',
        })),
      );
      return { status: 'applied' };
    } catch (error) {
      // The bus being away is an availability problem: the capture keeps the events.
      const err = new VectorsyncError(
        ErrorCode.BusUnavailable,
        `publishing to the event bus failed: ${coerceError(error).message}`,
        { cause: error, transient: true },
      );
      return { status: 'failed', error: err, code: err.code, transient: true };
    }
  }
}
