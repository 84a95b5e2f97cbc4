import {
  AckPolicy,
  type Consumer,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { BusConfig } from '../../config/config-schema.js';
import { ErrorCode, VectorsyncError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { BusEvent, BusMessage, BusSubscription, ConsumerPosition, EventBus } from '../event-bus.js';

/**
 * NATS JetStream: one stream (`bus.stream`) with a subject per collection
 * (`<subjectPrefix>.<collection>`), file storage, kept forever unless `maxAgeHours` is set.
 * Publishes wait for the stream's acknowledgement and carry a message id, so a retried
 * publish is de-duplicated by the server.
 */
export class NatsEventBus implements EventBus {
  readonly kind = 'nats';
  private connection: NatsConnection | undefined;
  private js: JetStreamClient | undefined;
  private jsm: JetStreamManager | undefined;
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();
  private streamReady = false;
  private connecting: Promise<{ js: JetStreamClient; jsm: JetStreamManager }> | undefined;

  constructor(
    private readonly config: BusConfig,
    private readonly logger: Logger,
  ) {}

  private async client(): Promise<{ js: JetStreamClient; jsm: JetStreamManager }> {
    if (this.connection && !this.connection.isClosed() && this.js && this.jsm)
      return { js: this.js, jsm: this.jsm };
    // Publishing and consuming start together: they must share one connection, or the one
    // overwritten would never be closed and would reconnect forever.
    this.connecting ??= this.open().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async open(): Promise<{ js: JetStreamClient; jsm: JetStreamManager }> {
    let connection: NatsConnection;
    try {
      connection = await connect({
        servers: this.config.url.split(','),
        maxReconnectAttempts: -1,
        name: 'vectorsync',
      });
    } catch (error) {
      throw unreachable(this.config.url, error);
    }
    try {
      const js = jetstream(connection);
      const jsm = await jetstreamManager(connection);
      this.connection = connection;
      this.js = js;
      this.jsm = jsm;
      return { js, jsm };
    } catch (error) {
      await connection.close().catch(() => undefined);
      throw unreachable(this.config.url, error);
    }
  }

  subject(collection: string): string {
    return `${this.config.subjectPrefix}.${collection}`;
  }

  async ensureStream(): Promise<void> {
    const { jsm } = await this.client();
    const config = {
      name: this.config.stream,
      subjects: [`${this.config.subjectPrefix}.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: this.config.maxAgeHours > 0 ? this.config.maxAgeHours * 3600 * 1_000_000_000 : 0,
      duplicate_window: 2 * 60 * 1_000_000_000,
    };
    try {
      await jsm.streams.info(this.config.stream);
      await jsm.streams.update(this.config.stream, config);
    } catch {
      await jsm.streams.add(config);
    }
    this.streamReady = true;
  }

  async publish(events: readonly BusEvent[]): Promise<void> {
    if (!this.streamReady) await this.ensureStream();
    const { js } = await this.client();
    // Pipelined: every publish is in flight at once; all must be acknowledged.
    await Promise.all(
      events.map((event) =>
        js.publish(this.subject(event.collection), this.encoder.encode(JSON.stringify(event)), {
          msgID: `${event.collection}:${event.id}:${event.op}:${event.version ?? ''}:${event.capturedAt}`,
        }),
      ),
    );
  }

  async consume(
    options: { consumer: string; collections: readonly string[]; batchSize: number },
    handler: (messages: BusMessage[]) => Promise<void>,
  ): Promise<BusSubscription> {
    if (!this.streamReady) await this.ensureStream();
    const { js, jsm } = await this.client();
    // One durable consumer per collection (`<consumer>_<collection>`): a single filter subject
    // each, which every JetStream server version supports.
    const subscriptions: BusSubscription[] = [];
    for (const collection of options.collections) {
      const durable = `${options.consumer}_${collection}`;
      const settings = {
        filter_subject: this.subject(collection),
        ack_wait: this.config.ackWaitMs * 1_000_000,
        max_ack_pending: Math.max(1000, options.batchSize * 4),
      };
      try {
        await jsm.consumers.info(this.config.stream, durable);
        await jsm.consumers.update(this.config.stream, durable, settings);
      } catch {
        await jsm.consumers.add(this.config.stream, {
          durable_name: durable,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          ...settings,
        });
      }
      const consumer = await js.consumers.get(this.config.stream, durable);
      subscriptions.push(this.pump(consumer, options.batchSize, handler));
    }
    return {
      async stop() {
        await Promise.all(subscriptions.map((subscription) => subscription.stop()));
      },
    };
  }

  async replay(
    options: { collections: readonly string[]; batchSize: number },
    handler: (messages: BusMessage[]) => Promise<void>,
  ): Promise<{ replayed: number; lastSequence: number }> {
    const { js, jsm } = await this.client();
    const info = await this.info();
    let replayed = 0;
    for (const collection of options.collections) {
      const subject = this.subject(collection);
      // Where this collection's events end now: later ones are live traffic, applied anyway.
      const last = await this.lastSequenceOf(jsm, collection);
      if (last === 0) continue;
      const consumer = await js.consumers.get(this.config.stream, {
        filter_subjects: subject,
        deliver_policy: DeliverPolicy.All,
      });
      for (let done = false; !done; ) {
        const batch = await consumer.fetch({ max_messages: options.batchSize, expires: 2000 });
        const messages: BusMessage[] = [];
        let seen = 0;
        for await (const message of batch) {
          seen = message.seq;
          if (message.seq <= last) messages.push(this.toBusMessage(message));
        }
        if (messages.length > 0) {
          await handler(messages);
          replayed += messages.length;
        }
        done = seen === 0 || seen >= last;
      }
    }
    return { replayed, lastSequence: info.lastSequence };
  }

  async info(): Promise<{ messages: number; firstSequence: number; lastSequence: number }> {
    const { jsm } = await this.client();
    const info = await jsm.streams.info(this.config.stream);
    return {
      messages: info.state.messages,
      firstSequence: info.state.first_seq,
      lastSequence: info.state.last_seq,
    };
  }

  async consumerPosition(options: { consumer: string; collection: string }): Promise<ConsumerPosition> {
    const { jsm } = await this.client();
    const lastSequence = await this.lastSequenceOf(jsm, options.collection);
    const info = await jsm.consumers
      .info(this.config.stream, `${options.consumer}_${options.collection}`)
      .catch((error: unknown) => {
        // Only a consumer that does not exist yet is "nothing applied"; any other error is the caller's.
        if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound)
          return undefined;
        throw error;
      });
    if (!info) return { lastSequence, ackedThrough: 0, caughtUp: lastSequence === 0 };
    const ackedThrough = info.ack_floor.stream_seq;
    return {
      lastSequence,
      ackedThrough,
      caughtUp: ackedThrough >= lastSequence || (info.num_pending === 0 && info.num_ack_pending === 0),
    };
  }

  /** The stream position of a collection's newest event (0: it has none). */
  private lastSequenceOf(jsm: JetStreamManager, collection: string): Promise<number> {
    return (
      jsm.streams
        .getMessage(this.config.stream, { last_by_subj: this.subject(collection) })
        // null when the subject has no message; an error (a timeout) is not "no events".
        .then((message) => message?.seq ?? 0)
    );
  }

  async close(): Promise<void> {
    // A connection still being opened is closed too, not left reconnecting forever.
    await this.connecting?.catch(() => undefined);
    const connection = this.connection;
    this.connection = undefined;
    if (connection && !connection.isClosed()) await connection.drain().catch(() => connection.close());
  }

  private toBusMessage(message: JsMsg): BusMessage {
    return {
      event: JSON.parse(this.decoder.decode(message.data)) as BusEvent,
      sequence: message.seq,
      ack: async () => {
        await message.ackAck();
      },
      nak: (delayMs) => message.nak(delayMs),
    };
  }

  /** Pulls batches and hands them over one at a time; the next batch waits for the handler. */
  private pump(
    consumer: Consumer,
    batchSize: number,
    handler: (messages: BusMessage[]) => Promise<void>,
  ): BusSubscription {
    let running = true;
    const loop = (async () => {
      while (running) {
        try {
          const batch = await consumer.fetch({ max_messages: batchSize, expires: 1000 });
          const messages: BusMessage[] = [];
          for await (const message of batch) messages.push(this.toBusMessage(message));
          if (messages.length > 0) await handler(messages);
        } catch (error) {
          if (!running) break;
          this.logger.warn({ err: (error as Error).message }, 'event bus consumer error; retrying');
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
      }
    })();
    return {
      async stop() {
        running = false;
        await loop;
      },
    };
  }
}

function unreachable(url: string, error: unknown): VectorsyncError {
  return new VectorsyncError(
    ErrorCode.BusUnavailable,
    `event bus ${url} unreachable: ${(error as Error).message}`,
    { cause: error, transient: true },
  );
}
