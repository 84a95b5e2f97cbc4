import type { SyncConfig } from '../config/config-schema.js';
import type { Logger } from '../logger.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { CdcConsumer } from './cdc-consumer.js';
import { IndexWatcher } from './index-watcher.js';
import { OutboxWorker } from './outbox-worker.js';

/**
 * Everything that moves changes into the indexes in one process: the outbox workers (every
 * collection: captured changes, backfills, drift, retries) and, when any collection is in CDC
 * mode, the CDC consumer (only one process at a time holds the slot; the others stand by).
 */
export class SyncWorkers {
  readonly outbox: OutboxWorker;
  readonly cdc: CdcConsumer | undefined;
  readonly indexes: IndexWatcher;
  running = false;

  constructor(
    runtime: VectorsyncRuntime,
    logger: Logger,
    options: { collections?: string[]; sync?: Partial<SyncConfig> } = {},
  ) {
    this.indexes = new IndexWatcher(runtime, logger, runtime.config.sync.indexRefreshMs);
    this.outbox = new OutboxWorker({
      runtime,
      logger,
      ...(options.collections ? { collections: options.collections } : {}),
      ...(options.sync ? { sync: options.sync } : {}),
    });
    const cdcCollections = [...runtime.collections.values()]
      .filter((collection) => collection.definition.config.sync.mode === 'cdc')
      .filter((collection) => !options.collections || options.collections.includes(collection.name))
      .map((collection) => collection.name);
    this.cdc =
      cdcCollections.length > 0
        ? new CdcConsumer({ runtime, logger, collections: cdcCollections })
        : undefined;
  }

  async start(): Promise<void> {
    await this.indexes.start();
    await this.outbox.start();
    await this.cdc?.start();
    this.running = true;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.cdc?.stop();
    await this.outbox.stop();
    await this.indexes.stop();
  }
}
