import {
  AckPolicy,
  type Consumer,
  DeliverPolicy,
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
import type { BusEvent, BusMessage, BusSubscription, EventBus } from '../event-bus.js';

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

  constructor(
    private readonly config: BusConfig,
    private readonly logger: Logger,
  ) {}

  private async client(): Promise<{ js: JetStreamClient; jsm: JetStreamManager }> {
    if (!this.connection || this.connection.isClosed()) {
      try {
        this.connection = await connect({
          servers: this.config.url.split(','),
          maxReconnectAttempts: -1,
          name: 'vectorsync',
        });
      } catch (error) {
        throw new VectorsyncError(
          ErrorCode.StoreUnavailable,
          `event bus ${this.config.url} unreachable: ${(error as Error).message}`,
          {
            cause: error,
            transient: true,
          },
        );
      }
      this.js = jetstream(this.connection);
      this.jsm = await jetstreamManager(this.connection);
    }
    return { js: this.js!, jsm: this.jsm! };
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
  }

  async publish(events: readonly BusEvent[]): Promise<void> {
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
    const { js, jsm } = await this.client();
    const filterSubjects = options.collections.map((collection) => this.subject(collection));
    try {
      await jsm.consumers.info(this.config.stream, options.consumer);
      await jsm.consumers.update(this.config.stream, options.consumer, {
        filter_subjects: filterSubjects,
        ack_wait: this.config.ackWaitMs * 1_000_000,
      });
    } catch {
      await jsm.consumers.add(this.config.stream, {
        durable_name: options.consumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subjects: filterSubjects,
        ack_wait: this.config.ackWaitMs * 1_000_000,
        max_ack_pending: Math.max(1000, options.batchSize * 4),
      });
    }
    const consumer = await js.consumers.get(this.config.stream, options.consumer);
    return this.pump(consumer, options.batchSize, handler);
  }

  async replay(
    options: { collections: readonly string[]; batchSize: number },
    handler: (messages: BusMessage[]) => Promise<void>,
  ): Promise<{ replayed: number; lastSequence: number }> {
    const { js } = await this.client();
    const info = await this.info();
    if (info.messages === 0) return { replayed: 0, lastSequence: info.lastSequence };
    const consumer = await js.consumers.get(this.config.stream, {
      filter_subjects: options.collections.map((collection) => this.subject(collection)),
      deliver_policy: DeliverPolicy.All,
    });
    let replayed = 0;
    for (;;) {
      const batch = await consumer.fetch({ max_messages: options.batchSize, expires: 2000 });
      const messages: BusMessage[] = [];
      let last = 0;
      for await (const message of batch) {
        last = message.seq;
        if (message.seq <= info.lastSequence) messages.push(this.toBusMessage(message));
      }
      if (messages.length > 0) {
        await handler(messages);
        replayed += messages.length;
      }
      if (last === 0 || last >= info.lastSequence) return { replayed, lastSequence: info.lastSequence };
    }
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

  async close(): Promise<void> {
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
