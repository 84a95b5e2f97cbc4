import type { ConfigInput } from '../../src/config/config-schema.js';
import { parseConfig, type ResolvedConfig } from '../../src/config/resolve-config.js';
import { parseTextTemplate } from '../../src/config/text-template.js';
import type { SqlExecutor } from '../../src/db/database.js';
import { contentHash } from '../../src/pipeline/content-hash.js';
import { scanBuckets } from '../../src/reconcile/store-reader.js';
import type { VectorsyncRuntime } from '../../src/runtime/vectorsync-runtime.js';
import { ID_BUCKETS } from '../../src/stores/id-bucket.js';
import { fastSync } from './products-fixture.js';
import type { TestDatabase } from './test-environment.js';

/**
 * A catalog whose documents are built from five tables: a product, its brand (many-to-one),
 * its category and that category's parent (two hops), its variants and its latest reviews
 * (one-to-many). No foreign key constraints: dependency capture must not rely on them.
 */
export const catalogTablesSql = [
  `CREATE TABLE brands (id int PRIMARY KEY, name text NOT NULL, note text)`,
  `CREATE TABLE categories (id int PRIMARY KEY, name text NOT NULL, parent_id int)`,
  `CREATE TABLE products (
     id int PRIMARY KEY, tenant_id text NOT NULL, name text NOT NULL,
     brand_id int, category_id int, version bigint NOT NULL DEFAULT 0)`,
  `CREATE INDEX ON products (brand_id)`,
  `CREATE INDEX ON products (category_id)`,
  `CREATE TABLE variants (
     id int PRIMARY KEY, product_id int NOT NULL, color text, size text, position int NOT NULL DEFAULT 0, stock int NOT NULL DEFAULT 0)`,
  `CREATE INDEX ON variants (product_id)`,
  `CREATE TABLE reviews (id int PRIMARY KEY, product_id int NOT NULL, body text NOT NULL, created_at int NOT NULL)`,
  `CREATE INDEX ON reviews (product_id)`,
];

export const CATALOG_TEMPLATE =
  '{{name}} by {{brand.name}}. {{category.parent.name}} / {{category.name}}. Colours: {{variants.color | distinct}}. Sizes: {{variants.size}}. {{variants | count}} variants. {{reviews.body}}';

export function catalogCollection(mode: 'outbox' | 'cdc' | 'dual-write', store = 'main') {
  return {
    table: 'public.products',
    primaryKey: 'id',
    tenantColumn: 'tenant_id',
    versionColumn: 'version',
    manageVersion: true,
    text: CATALOG_TEMPLATE,
    keywordFields: ['name', 'brand.name', 'variants.color'],
    payloadFields: [
      'name',
      { name: 'brand', value: 'brand.name' },
      { name: 'colors', value: 'variants.color | distinct' },
      { name: 'variant_count', value: 'variants | count' },
    ],
    relations: {
      brand: { table: 'brands', kind: 'one' as const, foreignKey: 'brand_id' },
      category: {
        table: 'categories',
        kind: 'one' as const,
        foreignKey: 'category_id',
        relations: { parent: { table: 'categories', kind: 'one' as const, foreignKey: 'parent_id' } },
      },
      variants: { table: 'variants', kind: 'many' as const, foreignKey: 'product_id', orderBy: ['position'] },
      reviews: {
        table: 'reviews',
        kind: 'many' as const,
        foreignKey: 'product_id',
        orderBy: ['created_at desc'],
        limit: 3,
      },
    },
    store,
    embedder: 'default',
    sync: { mode, bus: false },
  };
}

export function catalogConfig(
  testDb: TestDatabase,
  options: { mode?: 'outbox' | 'cdc' | 'dual-write'; stores?: ConfigInput['stores'] } = {},
): ResolvedConfig {
  return parseConfig({
    databaseUrl: testDb.url,
    embedders: { default: { provider: 'hash', dimensions: 32 } },
    stores: options.stores ?? { main: { provider: 'pgvector' } },
    sync: { ...fastSync, dualWriteTimeoutMs: 10_000 },
    cdc: {
      slot: `vs_${testDb.name}`.slice(0, 63),
      batchDelayMs: 5,
      statusIntervalMs: 500,
      reconnectMaxMs: 500,
    },
    collections: { catalog: catalogCollection(options.mode ?? 'outbox') },
  });
}

export async function createCatalogTables(db: SqlExecutor): Promise<void> {
  for (const statement of catalogTablesSql) await db.query(statement);
}

/** Brands 1..brands, categories 1..4 under parents 100 and 101, products with variants and reviews. */
export async function seedCatalog(
  db: SqlExecutor,
  options: { brands: number; products: number; firstProduct?: number; tenant?: string },
): Promise<void> {
  const first = options.firstProduct ?? 1;
  await db.query(
    `INSERT INTO brands (id, name) SELECT b, 'Brand ' || b FROM generate_series(1, $1) b ON CONFLICT DO NOTHING`,
    [options.brands],
  );
  await db.query(
    `INSERT INTO categories (id, name, parent_id) VALUES (100, 'Clothing', NULL), (101, 'Outdoor', NULL),
       (1, 'Shirts', 100), (2, 'Trousers', 100), (3, 'Tents', 101), (4, 'Boots', 101) ON CONFLICT DO NOTHING`,
  );
  await db.query(
    `INSERT INTO products (id, tenant_id, name, brand_id, category_id)
     SELECT p, $3, 'Product ' || p, 1 + p % $1, 1 + p % 4 FROM generate_series($2::int, $2::int + $4::int - 1) p`,
    [options.brands, first, options.tenant ?? 'acme', options.products],
  );
  const colors = ['red', 'blue', 'green', 'black'];
  await db.query(
    `INSERT INTO variants (id, product_id, color, size, position)
     SELECT p * 10 + v, p, ($3::text[])[1 + (p + v) % 3], 'S' || v, v
       FROM generate_series($1::int, $1::int + $2::int - 1) p, generate_series(1, 3) v`,
    [first, options.products, colors],
  );
  await db.query(
    `INSERT INTO reviews (id, product_id, body, created_at)
     SELECT p * 10 + r, p, 'review ' || r || ' of product ' || p, r FROM generate_series($1::int, $1::int + $2::int - 1) p, generate_series(1, 4) r`,
    [first, options.products],
  );
}

/**
 * What each product's document must be, assembled here in TypeScript from plain reads of the
 * five tables (not through the relation SQL under test): id → embedding text.
 */
export async function expectedCatalogTexts(
  db: SqlExecutor,
): Promise<Map<string, { tenant: string; text: string }>> {
  const rows = async <T>(sql: string) => (await db.query<T>(sql)).rows;
  const brands = new Map(
    (await rows<{ id: number; name: string }>('SELECT id, name FROM brands')).map((b) => [b.id, b.name]),
  );
  const categories = new Map(
    (await rows<{ id: number; name: string; parent_id: number | null }>('SELECT * FROM categories')).map(
      (c) => [c.id, c],
    ),
  );
  const variants = await rows<{
    product_id: number;
    color: string | null;
    size: string | null;
    position: number;
    id: number;
  }>('SELECT * FROM variants');
  const reviews = await rows<{ product_id: number; body: string; created_at: number; id: number }>(
    'SELECT * FROM reviews',
  );
  const template = parseTextTemplate(CATALOG_TEMPLATE);
  const expected = new Map<string, { tenant: string; text: string }>();
  for (const product of await rows<{
    id: number;
    tenant_id: string;
    name: string;
    brand_id: number | null;
    category_id: number | null;
  }>('SELECT * FROM products')) {
    const own = variants
      .filter((variant) => variant.product_id === product.id)
      .sort((a, b) => a.position - b.position || a.id - b.id)
      .slice(0, 100);
    const colors: string[] = [];
    for (const variant of own)
      if (variant.color !== null && !colors.includes(variant.color)) colors.push(variant.color);
    const latest = reviews
      .filter((review) => review.product_id === product.id)
      .sort((a, b) => b.created_at - a.created_at || a.id - b.id)
      .slice(0, 3);
    const category = product.category_id === null ? undefined : categories.get(product.category_id);
    const parent = category?.parent_id == null ? undefined : categories.get(category.parent_id);
    const text = template.render({
      name: product.name,
      'brand.name': product.brand_id === null ? null : (brands.get(product.brand_id) ?? null),
      'category.name': category?.name ?? null,
      'category.parent.name': parent?.name ?? null,
      'variants.color|distinct': colors,
      'variants.size': own.map((variant) => variant.size).filter((size) => size !== null),
      'variants|count': variants.filter((variant) => variant.product_id === product.id).length,
      'reviews.body': latest.map((review) => review.body),
    });
    expected.set(String(product.id), { tenant: product.tenant_id, text });
  }
  return expected;
}

export interface IndexedDocument {
  tenant: string;
  version: number;
  contentHash: string;
}

export async function indexedCatalog(runtime: VectorsyncRuntime): Promise<Map<string, IndexedDocument>> {
  const target = runtime.activeTarget('catalog');
  const found = new Map<string, IndexedDocument>();
  for await (const page of scanBuckets(target.store, target.spec, 0, ID_BUCKETS - 1, { pageSize: 500 }))
    for (const record of page)
      found.set(record.id, {
        tenant: record.tenant,
        version: record.version,
        contentHash: record.contentHash,
      });
  return found;
}

/** How the index differs from the documents the source describes, or undefined when it does not. */
export async function catalogDrift(runtime: VectorsyncRuntime, db: SqlExecutor): Promise<string | undefined> {
  const embedder = runtime.collection('catalog').embedder;
  const [indexed, expected] = await Promise.all([indexedCatalog(runtime), expectedCatalogTexts(db)]);
  const problems: string[] = [];
  for (const [id, document] of expected) {
    const record = indexed.get(id);
    const hash = contentHash(document.text, embedder.modelId, embedder.dimensions);
    if (!record) problems.push(`missing ${id}`);
    else if (record.tenant !== document.tenant || record.contentHash !== hash)
      problems.push(`stale ${id}: expected "${document.text}"`);
    indexed.delete(id);
  }
  for (const id of indexed.keys()) problems.push(`orphan ${id}`);
  return problems.length > 0
    ? `${problems.length} differences:\n${problems.slice(0, 10).join('\n')}`
    : undefined;
}
