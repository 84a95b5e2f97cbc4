import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/resolve-config.js';
import type { LancedbStoreConfig } from '../../src/stores/lancedb/lancedb-config.js';
import { LancedbStore } from '../../src/stores/lancedb/lancedb-store.js';
import { chunkContract } from './chunk-contract.js';
import { contractSpec, type StoreHarness, storeContract } from './store-contract.js';

const open = async (): Promise<StoreHarness> => {
  const dataDir = await mkdtemp(join(tmpdir(), 'vectorsync-lancedb-'));
  const config = parseConfig({
    embedders: {},
    collections: {},
    stores: { lance: { provider: 'lancedb', dataDir } },
  }).stores.lance as LancedbStoreConfig;
  const store = new LancedbStore(config);
  return {
    store,
    spec: contractSpec('idx_contract_lance'),
    async close() {
      await store.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
};

storeContract('lancedb', open, {
  bm25ParametersPerQuery:
    'LanceDB’s full-text index scores with its own fixed BM25 parameters (k1 = 1.2, b = 0.75)',
  perTenantKeywordStatistics:
    'LanceDB’s BM25 statistics (document count, average length, document frequency) span the whole table, all tenants',
});
chunkContract('lancedb', open);
