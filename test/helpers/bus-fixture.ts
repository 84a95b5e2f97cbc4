import {
  AckPolicy,
  type ConsumerInfo,
  DeliverPolicy,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { BusEvent } from '../../src/bus/event-bus.js';
import type { ConfigInput } from '../../src/config/config-schema.js';
import type { TestDatabase } from './test-environment.js';

/** The suite's shared nats-server (started by scripts/run-tests.ts). */
export function sharedNatsUrl(): string {
  const url = process.env.VECTORSYNC_TEST_NATS_URL;
  if (!url) throw new Error('VECTORSYNC_TEST_NATS_URL is not set: run the tests with `npm test`');
  return url;
}

/**
 * A `bus` section whose stream and subjects belong to this test database alone, so test files
 * sharing one nats-server never see each other's events.
 */
export function testBusConfig(
  testDb: TestDatabase,
  overrides: Partial<NonNullable<ConfigInput['bus']>> = {},
): NonNullable<ConfigInput['bus']> {
  const suffix = testDb.name.replace(/[^A-Za-z0-9_-]/g, '_');
  return {
    provider: 'nats',
    url: sharedNatsUrl(),
    stream: `VS_${suffix}`,
    subjectPrefix: `vs_${suffix}`,
    ackWaitMs: 2000,
    ...overrides,
  };
}

/** A plain JetStream client on the test's stream: what another team's service would use. */
export class RawJetStream {
  private constructor(
    private readonly connection: NatsConnection,
    readonly stream: string,
  ) {}

  static async connect(url: string, stream: string): Promise<RawJetStream> {
    return new RawJetStream(await connect({ servers: url, name: 'vectorsync-test' }), stream);
  }

  async streamInfo(): Promise<{ messages: number; firstSequence: number; lastSequence: number }> {
    const info = await (await jetstreamManager(this.connection)).streams.info(this.stream);
    return {
      messages: info.state.messages,
      firstSequence: info.state.first_seq,
      lastSequence: info.state.last_seq,
    };
  }

  async consumerInfo(durable: string): Promise<ConsumerInfo> {
    return (await jetstreamManager(this.connection)).consumers.info(this.stream, durable);
  }

  /** A durable pull consumer of our own, delivering the subject from the start of the stream. */
  async addDurable(durable: string, subject: string): Promise<void> {
    await (await jetstreamManager(this.connection)).consumers.add(this.stream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: subject,
      ack_wait: 60_000_000_000,
    });
  }

  /** Fetches up to `max` messages from a durable consumer (without acknowledging them). */
  async fetch(durable: string, max: number): Promise<Array<{ message: JsMsg; event: BusEvent }>> {
    const consumer = await jetstream(this.connection).consumers.get(this.stream, durable);
    const batch = await consumer.fetch({ max_messages: max, expires: 1000 });
    const received: Array<{ message: JsMsg; event: BusEvent }> = [];
    for await (const message of batch) received.push({ message, event: message.json<BusEvent>() });
    return received;
  }

  /** Every event stored for a subject, in stream order (an ordered, ephemeral consumer). */
  async events(subject: string): Promise<Array<BusEvent & { sequence: number }>> {
    const last = await this.streamInfo();
    if (last.messages === 0) return [];
    const consumer = await jetstream(this.connection).consumers.get(this.stream, {
      filter_subjects: subject,
      deliver_policy: DeliverPolicy.All,
    });
    const events: Array<BusEvent & { sequence: number }> = [];
    for (;;) {
      const batch = await consumer.fetch({ max_messages: 500, expires: 1000 });
      let seen = 0;
      for await (const message of batch) {
        seen = message.seq;
        events.push({ ...message.json<BusEvent>(), sequence: message.seq });
      }
      if (seen === 0 || seen >= last.lastSequence) return events;
    }
  }

  async deleteMessage(sequence: number): Promise<void> {
    await (await jetstreamManager(this.connection)).streams.deleteMessage(this.stream, sequence);
  }

  async purge(): Promise<void> {
    await (await jetstreamManager(this.connection)).streams.purge(this.stream);
  }

  /** Removes the test's stream (and its consumers) from the shared server. */
  async deleteStream(): Promise<void> {
    await (await jetstreamManager(this.connection)).streams.delete(this.stream).catch(() => false);
  }

  async close(): Promise<void> {
    await this.connection.drain().catch(() => this.connection.close());
  }
}
