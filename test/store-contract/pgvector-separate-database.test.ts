import { parseConfig } from '../../src/config/resolve-config.js';
import { PgDatabase } from '../../src/db/pg-database.js';
import { demoConfig } from '../../src/demo/demo-schema.js';
import type { PgvectorStoreConfig } from '../../src/stores/pgvector/pgvector-config.js';
import { PgvectorStore } from '../../src/stores/pgvector/pgvector-store.js';
import { createTestDatabase } from '../helpers/test-environment.js';
import { chunkContract } from './chunk-contract.js';
import { contractSpec, type StoreHarness, storeContract } from './store-contract.js';

// pgvector in another database (as with VECTOR_DATABASE_URL): no foreign key, same guarantees.
const open = async (): Promise<StoreHarness> => {
  const vectors = await createTestDatabase('contract_pg_separate', { empty: true });
  const config = parseConfig(demoConfig()).stores.main as PgvectorStoreConfig;
  const store = new PgvectorStore(PgDatabase.fromUrl(vectors.url, { max: 4 }), config, {
    sameDatabaseAsSource: false,
    ownsDatabase: true,
  });
  return {
    store,
    spec: contractSpec('idx_contract_separate'),
    async close() {
      await store.close();
      await vectors.drop();
    },
  };
};

storeContract('pgvector (separate database)', open);
chunkContract('pgvector (separate database)', open);
