import { parseConfig } from '../src/config/resolve-config.js';
import { generateCatalog } from '../src/demo/catalog-generator.js';
import { demoConfig, demoProductsTableSql } from '../src/demo/demo-schema.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import { readSourceRows } from '../src/pipeline/source-reader.js';
import { buildDocument } from '../src/pipeline/document-builder.js';
import { embedDocuments } from '../src/pipeline/embed-documents.js';
import { claimEvents, completeEvents } from '../src/sync/outbox-queries.js';
import { benchDatabase } from './bench-environment.js';

const env = await benchDatabase('profile');
await env.db.query(demoProductsTableSql);
const config = parseConfig({ ...demoConfig({ dimensions: 256 }), databaseUrl: env.url });
const runtime = await VectorsyncRuntime.open({ config, db: env.db });
await setupCollections(runtime);
const items = [...generateCatalog(20000, 3)];
await env.db.query(`INSERT INTO products (article_id, tenant_id, name, description, product_type, color) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])`,
  [items.map(i=>i.article_id), items.map(()=> 't'), items.map(i=>i.name), items.map(i=>i.description), items.map(i=>i.product_type), items.map(i=>i.color)]);
const c = runtime.collection('products');
if (process.argv[3] === 'nohnsw') await env.db.query(`DROP INDEX vectorsync.${runtime.activeTarget('products').record.location}_hnsw`);
const spec = runtime.activeTarget('products').spec;
const t: Record<string, number> = {};
const time = async <T>(k: string, f: () => Promise<T>) => { const s = performance.now(); const r = await f(); t[k] = (t[k] ?? 0) + performance.now() - s; return r; };
const batch = Number(process.argv[2] ?? 1000);
for (let round = 0; round < 10; round++) {
  const events = await time('claim', () => claimEvents(env.db, { workerId: 'w', collections: ['products'], limit: batch }));
  const rows = await time('read', () => readSourceRows(env.db, c.definition, events.map(e => e.sourceId)));
  const docs = await time('build', async () => [...rows.values()].map(r => buildDocument(c.definition, r, c.embedder)));
  const emb = await time('embed', () => embedDocuments(docs, c.embedder, c.embeddingCache));
  await time('upsert', () => c.store.upsert(spec, emb.documents));
  await time('complete', () => completeEvents(env.db, 'w', events.map(e => e.eventId)));
}
console.log(batch, Object.fromEntries(Object.entries(t).map(([k, v]) => [k, (v / 10).toFixed(1) + 'ms'])));
await runtime.close();
await env.close();
