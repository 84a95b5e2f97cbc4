import { EventEmitter } from 'node:events';
import type { BusMessage, BusSubscription, EventBus } from '../bus/event-bus.js';
import type { VectorsyncConfig } from '../config/config-schema.js';
import { coerceError } from '../errors.js';
import type { Logger } from '../logger.js';
import { deferEvents, recordFailedEvents } from '../outbox/outbox-records.js';
import { type AppliedLag, workKindOfBusOrigin } from '../outbox/work-kind.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { Applier, type ApplyStats } from './applier.js';
import { backoffDelay, isDeferral, requestedWaitMs } from './backoff.js';
import type { ChangeEvent } from './change-event.js';
import { BUS_RETRY_ORIGIN } from './change-router.js';
import { WakeSignal } from './wake-signal.js';

export interface BusBatchReport {
  messages: number;
  acked: number;
  /** Redelivered later: the store or embedder was unavailable. */
  redelivered: number;
  /** Could not be applied; recorded in the failed list and acknowledged. */
  failed: number;
  durationMs: number;
  stats: ApplyStats;
  lags: AppliedLag[];
}

export interface BusConsumerEvents {
  batch: [BusBatchReport];
  error: [Error];
}

export interface BusConsumerOptions {
  runtime: VectorsyncRuntime;
  bus: EventBus;
  /** Default: every collection with `sync.bus`. */
  collections?: string[];
  /** Durable consumer name (default `bus.consumer`); consumers with other names get every event too. */
  consumer?: string;
  batchSize?: number;
  logger?: Logger;
}

/** The durable consumer that applies bus events to the indexes (`bus.consumer`). */
export function applyConsumerName(config: VectorsyncConfig): string {
  return config.bus?.consumer ?? 'vectorsync-apply';
}

/**
 * Applies change events from the event bus to the indexes. A message is acknowledged only
 * after its change is in every live index (or recorded in the failed list), so a consumer that
 * dies mid-batch gets the unacknowledged messages again; the version guard absorbs the repeat.
 */
export class BusConsumer extends EventEmitter<BusConsumerEvents> {
  readonly collections: string[];
  readonly consumer: string;
  private readonly applier: Applier;
  private readonly logger: Logger;
  private subscription: BusSubscription | undefined;
  private starting: Promise<void> | undefined;
  private running = false;
  private readonly wake = new WakeSignal();
  private unavailableFor = 0;

  constructor(private readonly options: BusConsumerOptions) {
    super();
    // Errors are logged and retried here; an 'error' listener is optional, so emitting one must never throw.
    this.on('error', () => undefined);
    const { runtime } = options;
    this.collections =
      options.collections ??
      [...runtime.collections.values()]
        .filter((collection) => collection.definition.config.sync.bus)
        .map((collection) => collection.name);
    this.consumer = options.consumer ?? applyConsumerName(runtime.config);
    this.logger = (options.logger ?? runtime.logger).child({ busConsumer: this.consumer });
    this.applier = new Applier(runtime, this.logger);
  }

  /** Subscribes in the background (retrying while the bus is unreachable); see `ready`. */
  async start(): Promise<void> {
    if (this.running || this.collections.length === 0) return;
    this.running = true;
    this.wake.reset();
    this.starting = this.subscribe();
  }

  /** Resolves once the durable consumer exists and delivery has started (or the consumer stopped). */
  async ready(): Promise<void> {
    await this.starting;
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake.close();
    await this.starting;
    const subscription = this.subscription;
    this.subscription = undefined;
    await subscription?.stop();
  }

  private async subscribe(): Promise<void> {
    for (let attempt = 1; this.running; attempt++) {
      try {
        this.subscription = await this.options.bus.consume(
          {
            consumer: this.consumer,
            collections: this.collections,
            batchSize: this.options.batchSize ?? this.options.runtime.config.sync.batchSize,
          },
          (messages) => this.handle(messages),
        );
        this.logger.info({ collections: this.collections }, 'consuming change events from the bus');
        return;
      } catch (error) {
        const err = coerceError(error);
        const delay = backoffDelay(attempt, 200, this.options.runtime.config.sync.backoffMaxMs);
        this.logger.warn({ err: err.message, retryInMs: delay }, 'event bus unreachable; retrying');
        this.emit('error', err);
        await this.wake.wait(delay);
      }
    }
  }

  private async handle(messages: BusMessage[]): Promise<void> {
    const started = performance.now();
    const events = messages.map(toChangeEvent);
    const { outcomes, stats } = await this.applier.apply(events);
    const ack: BusMessage[] = [];
    const redeliver: BusMessage[] = [];
    const failed: Array<{ event: ChangeEvent; error: string; code: string }> = [];
    // Held back by a rate limit or a budget: queued in the outbox for when the wait is over, and
    // acknowledged, so they neither stall the other collections nor fill the consumer's
    // max_ack_pending for as long as a budget stays spent.
    const deferred: Array<{
      event: ChangeEvent;
      error: string;
      code: string;
      waitMs: number;
      message: BusMessage;
    }> = [];
    messages.forEach((message, index) => {
      const event = events[index]!;
      const outcome = outcomes.get(event.eventId) ?? { status: 'applied' as const };
      if (outcome.status !== 'failed') ack.push(message);
      else if (outcome.transient && isDeferral(outcome.error))
        deferred.push({
          event,
          error: outcome.error.message,
          code: outcome.code,
          waitMs: requestedWaitMs(outcome.error),
          message,
        });
      else if (outcome.transient) redeliver.push(message);
      else failed.push({ event, error: outcome.error.message, code: outcome.code });
    });
    if (deferred.length > 0) {
      try {
        await deferEvents(this.options.runtime.db, deferred, BUS_RETRY_ORIGIN);
        ack.push(...deferred.map((item) => item.message));
        this.logger.warn(
          {
            deferred: deferred.length,
            collections: [...new Set(deferred.map((item) => item.event.collection))],
          },
          'change events held back by an embedding rate limit or budget; queued in the outbox',
        );
      } catch (error) {
        redeliver.push(...deferred.map((item) => item.message));
        this.logger.warn({ err: coerceError(error).message }, 'could not queue held-back events; will retry');
      }
    }
    if (failed.length > 0) {
      try {
        // In the failed list, retried through the outbox straight to the indexes.
        await recordFailedEvents(this.options.runtime.db, failed, BUS_RETRY_ORIGIN);
        const failedIds = new Set(failed.map((item) => item.event.eventId));
        messages.forEach((message, index) => {
          if (failedIds.has(events[index]!.eventId)) ack.push(message);
        });
        this.logger.error(
          { events: failed.map(({ event, code, error }) => ({ id: event.sourceId, code, err: error })) },
          'change events could not be applied; recorded as failed',
        );
      } catch (error) {
        // Not recorded: leave them unacknowledged so the bus redelivers them.
        redeliver.push(...messages.filter((_, index) => failed.some((item) => item.event === events[index])));
        this.logger.warn({ err: coerceError(error).message }, 'could not record failed events; will retry');
      }
    }
    await Promise.all(ack.map((message) => message.ack()));
    const appliedAt = Date.now();
    if (redeliver.length > 0) {
      this.unavailableFor++;
      const delay = backoffDelay(
        this.unavailableFor,
        this.options.runtime.config.sync.backoffBaseMs,
        this.options.runtime.config.sync.backoffMaxMs,
      );
      for (const message of redeliver) message.nak(delay);
      this.logger.warn(
        { redelivered: redeliver.length, retryInMs: delay },
        'store or embedder unavailable; change events will be redelivered',
      );
      // Back-pressure: do not pull more while the store is away.
      await this.wake.wait(delay);
    } else this.unavailableFor = 0;
    // Acknowledged after they were applied; not those recorded as failed or deferred to the outbox.
    const notApplied = new Set([...failed, ...deferred].map((item) => item.event.eventId));
    const eventIdOf = new Map(messages.map((message, index) => [message, events[index]!.eventId]));
    const ackedSet = new Set(ack.filter((message) => !notApplied.has(eventIdOf.get(message)!)));
    this.emit('batch', {
      messages: messages.length,
      acked: ack.length,
      redelivered: redeliver.length,
      failed: failed.length,
      durationMs: performance.now() - started,
      stats,
      lags: messages
        .filter((message) => ackedSet.has(message))
        .map((message) => ({
          collection: message.event.collection,
          work: workKindOfBusOrigin(message.event.origin),
          ms: appliedAt - Date.parse(message.event.capturedAt),
        })),
    });
  }
}

export function toChangeEvent(message: BusMessage): ChangeEvent {
  const { event } = message;
  return {
    eventId: `bus-${message.sequence}`,
    collection: event.collection,
    tenant: event.tenant,
    sourceId: event.id,
    op: event.op,
    sourceVersion: event.version,
    capturedAt: new Date(event.capturedAt),
  };
}
