import { createEventBus } from '../bus/create-event-bus.js';
import type { EventBus } from '../bus/event-bus.js';
import type { SyncConfig } from '../config/config-schema.js';
import type { Logger } from '../logger.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { BusConsumer } from './bus-consumer.js';
import { CdcConsumer } from './cdc-consumer.js';
import { IndexWatcher } from './index-watcher.js';
import { OutboxWorker } from './outbox-worker.js';
import { streamedCollections } from './sync-mode-switch.js';

export interface SyncWorkersOptions {
  collections?: string[];
  sync?: Partial<SyncConfig>;
  /** Run the CDC consumer (default: when a collection is in CDC mode). */
  cdc?: boolean;
  /** Run the bus consumer (default: when a collection publishes to the bus). */
  busConsumer?: boolean;
}

/**
 * Everything that moves changes into the indexes in one process: the outbox workers (every
 * collection: captured changes, backfills, drift, retries), the CDC consumer when a collection
 * is in CDC mode (one process at a time holds the slot; the others stand by), the bus consumer
 * when a collection publishes to the event bus, and the watcher that keeps the list of live
 * indexes current.
 */
export class SyncWorkers {
  readonly outbox: OutboxWorker;
  /** Created by start() when a collection streams from the slot (CDC, or switching away from it). */
  cdc: CdcConsumer | undefined;
  readonly bus: EventBus | undefined;
  readonly busConsumer: BusConsumer | undefined;
  readonly indexes: IndexWatcher;
  running = false;

  constructor(
    private readonly runtime: VectorsyncRuntime,
    private readonly logger: Logger,
    private readonly options: SyncWorkersOptions = {},
  ) {
    const selected = (name: string) => !options.collections || options.collections.includes(name);
    this.indexes = new IndexWatcher(runtime, logger, runtime.config.sync.indexRefreshMs);
    this.bus = createEventBus(runtime.config, logger);
    this.outbox = new OutboxWorker({
      runtime,
      logger,
      ...(options.collections ? { collections: options.collections } : {}),
      ...(options.sync ? { sync: options.sync } : {}),
      ...(this.bus ? { bus: this.bus } : {}),
    });
    const collections = [...runtime.collections.values()].filter((collection) => selected(collection.name));
    const busCollections = collections
      .filter((collection) => collection.definition.config.sync.bus)
      .map((collection) => collection.name);
    this.busConsumer =
      this.bus && busCollections.length > 0 && options.busConsumer !== false
        ? new BusConsumer({ runtime, logger, bus: this.bus, collections: busCollections })
        : undefined;
  }

  async start(): Promise<void> {
    await this.indexes.start();
    await this.outbox.start();
    if (this.options.cdc !== false && !this.cdc) {
      const streamed = (await streamedCollections(this.runtime)).filter(
        (name) => !this.options.collections || this.options.collections.includes(name),
      );
      if (streamed.length > 0)
        this.cdc = new CdcConsumer({
          runtime: this.runtime,
          logger: this.logger,
          collections: streamed,
          ...(this.bus ? { bus: this.bus } : {}),
        });
    }
    await this.cdc?.start();
    await this.busConsumer?.start();
    this.running = true;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.busConsumer?.stop();
    await this.cdc?.stop();
    await this.outbox.stop();
    await this.bus?.close();
    await this.indexes.stop();
  }
}
