import type { StoreConfig } from '../config/config-schema.js';
import type { Database } from '../db/database.js';
import { PgDatabase } from '../db/pg-database.js';
import type { Logger } from '../logger.js';
import { LancedbStore } from './lancedb/lancedb-store.js';
import { PgvectorStore } from './pgvector/pgvector-store.js';
import { QdrantStore } from './qdrant/qdrant-store.js';
import type { VectorStore } from './vector-store.js';

export function createStore(
  name: string,
  config: StoreConfig,
  sourceDb: Database,
  logger: Logger,
  poolSize: number,
  env: NodeJS.ProcessEnv = process.env,
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
    case 'lancedb':
      return new LancedbStore(config, logger, sourceDb);
    case 'qdrant':
      return new QdrantStore(config, { logger, env });
  }
}
