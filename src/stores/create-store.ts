import type { StoreConfig } from '../config/config-schema.js';
import type { Database } from '../db/database.js';
import { PgDatabase } from '../db/pg-database.js';
import type { Logger } from '../logger.js';
import { PgvectorStore } from './pgvector/pgvector-store.js';
import type { VectorStore } from './vector-store.js';

export function createStore(
  name: string,
  config: StoreConfig,
  sourceDb: Database,
  logger: Logger,
  poolSize: number,
): VectorStore {
  switch (config.provider) {
    case 'pgvector': {
      if (config.databaseUrl) {
        const db = PgDatabase.fromUrl(config.databaseUrl, {
          max: poolSize,
          logger,
          applicationName: `vectorsync-store-${name}`,
        });
        return new PgvectorStore(db, config, { sameDatabaseAsSource: false, logger, ownsDatabase: true });
      }
      return new PgvectorStore(sourceDb, config, { sameDatabaseAsSource: true, logger });
    }
  }
}
