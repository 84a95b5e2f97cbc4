import { parseConfig } from '../../src/config/resolve-config.js';
import type { QdrantStoreConfig } from '../../src/stores/qdrant/qdrant-config.js';
import { QdrantStore } from '../../src/stores/qdrant/qdrant-store.js';
import { contractSpec, storeContract } from './store-contract.js';

// Qdrant cannot run on this machine; with QDRANT_URL pointing at a real server the full
// contract runs against it (its request bodies are checked against the schema regardless:
// test/qdrant-request-schema.test.ts).
const url = process.env.QDRANT_URL;
const skip = url ? undefined : 'QDRANT_URL is not set: no Qdrant server to run the store contract against';
if (skip) console.log(`# store contract: qdrant skipped: ${skip}`);

for (const hybrid of ['service', 'native'] as const) {
  storeContract(
    `qdrant (hybrid: ${hybrid})`,
    async () => {
      const config = parseConfig({
        embedders: {},
        collections: {},
        stores: { q: { provider: 'qdrant', url: url!, hybrid } },
      }).stores.q as QdrantStoreConfig;
      const store = new QdrantStore(config);
      return {
        store,
        spec: contractSpec(`vectorsync_contract_${hybrid}_${process.pid}`),
        close: () => store.close(),
      };
    },
    {
      bm25ParametersPerQuery: 'k1 and b are baked into the sparse vectors when points are written',
      perTenantKeywordStatistics:
        'Qdrant’s IDF modifier counts documents across the whole collection, all tenants',
    },
    skip ? { skip } : {},
  );
}
