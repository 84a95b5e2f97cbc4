/**
 * The change event every capture publishes when a collection uses the bus. Like an outbox
 * event it says "this row changed"; appliers re-read the row, so replaying old events can never
 * write old data.
 */
export interface BusEvent {
  collection: string;
  tenant: string | null;
  id: string;
  op: 'upsert' | 'delete' | 'truncate';
  version: number | null;
  /** When the change was captured (ISO 8601): the start of commit-to-searchable lag. */
  capturedAt: string;
  /** outbox, cdc, backfill, … */
  origin: string;
}

export interface BusMessage {
  event: BusEvent;
  /** Position in the stream. */
  sequence: number;
  ack(): Promise<void>;
  /** Redeliver later (the applier could not reach the store). */
  nak(delayMs: number): void;
}

export interface ConsumerPosition {
  lastSequence: number;
  ackedThrough: number;
  caughtUp: boolean;
}

export interface BusSubscription {
  stop(): Promise<void>;
}

/**
 * A durable, replayable log of change events with independent consumers. NATS JetStream
 * implements it (nats/nats-event-bus.ts); a Kafka implementation would map a stream to a topic
 * (partitioned by collection and id), a durable consumer to a consumer group with manual
 * commits after apply, and replay to a new group reading from the earliest offset.
 */
export interface EventBus {
  readonly kind: string;
  /** Creates the stream if needed (idempotent). */
  ensureStream(): Promise<void>;
  /** Resolves once every event is durably stored; rejects otherwise (the caller retries). */
  publish(events: readonly BusEvent[]): Promise<void>;
  /** A durable consumer: delivery continues where it left off, across restarts and processes. */
  consume(
    options: { consumer: string; collections: readonly string[]; batchSize: number },
    handler: (messages: BusMessage[]) => Promise<void>,
  ): Promise<BusSubscription>;
  /** Reads every event from the start of the stream up to its current end, in order. */
  replay(
    options: { collections: readonly string[]; batchSize: number },
    handler: (messages: BusMessage[]) => Promise<void>,
  ): Promise<{ replayed: number; lastSequence: number }>;
  info(): Promise<{ messages: number; firstSequence: number; lastSequence: number }>;
  /**
   * How far a durable consumer has applied one collection's events: the position of the
   * collection's last event, and of the last event up to which every one is acknowledged.
   * `caughtUp` when it has nothing left to deliver or acknowledge.
   */
  consumerPosition(options: { consumer: string; collection: string }): Promise<ConsumerPosition>;
  close(): Promise<void>;
}
