import { parseConfig } from '../../src/config/resolve-config.js';
import { demoConfig } from '../../src/demo/demo-schema.js';
import type { PgvectorStoreConfig } from '../../src/stores/pgvector/pgvector-config.js';
import { PgvectorStore } from '../../src/stores/pgvector/pgvector-store.js';
import { createTestDatabase } from '../helpers/test-environment.js';
import { chunkContract } from './chunk-contract.js';
import { contractSpec, type StoreHarness, storeContract } from './store-contract.js';

// pgvector in the source database: the index table references the source rows by foreign key.
const open = async (): Promise<StoreHarness> => {
  const testDb = await createTestDatabase('contract_pg_same');
  await testDb.db.query('CREATE TABLE public.contract_docs (id text PRIMARY KEY)');
  const config = parseConfig(demoConfig()).stores.main as PgvectorStoreConfig;
  const store = new PgvectorStore(testDb.connect(), config, { sameDatabaseAsSource: true });
  return {
    store,
    spec: contractSpec('idx_contract_same', {
      source: { table: { schema: 'public', name: 'contract_docs' }, columns: [{ name: 'id', type: 'text' }] },
    }),
    async beforeUpsert(ids) {
      await testDb.db.query(
        'INSERT INTO public.contract_docs SELECT unnest($1::text[]) ON CONFLICT DO NOTHING',
        [ids],
      );
    },
    async close() {
      await store.close();
      await testDb.drop();
    },
  };
};

storeContract('pgvector (same database)', open);
chunkContract('pgvector (same database)', open);
