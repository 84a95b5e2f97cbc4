import type { ConfigInput, SyncConfig } from '../../src/config/config-schema.js';
import { parseConfig, type ResolvedConfig } from '../../src/config/resolve-config.js';
import type { SqlExecutor } from '../../src/db/database.js';
import { type DemoProduct, generateCatalog } from '../../src/demo/catalog-generator.js';
import { demoConfig, demoProductsTableSql } from '../../src/demo/demo-schema.js';
import { VectorsyncRuntime } from '../../src/runtime/vectorsync-runtime.js';
import { setupCollections } from '../../src/sync/setup-collections.js';
import type { TestDatabase } from './test-environment.js';

export const fastSync: Partial<SyncConfig> = {
  sweepIntervalMs: 200,
  pollIntervalMs: 50,
  heartbeatMs: 100,
  workerTimeoutMs: 1000,
  backoffBaseMs: 50,
  backoffMaxMs: 500,
  maxAttempts: 3,
  batchSize: 100,
};

export function productsConfig(
  testDb: TestDatabase,
  overrides: Partial<ConfigInput> = {},
  dimensions = 64,
): ResolvedConfig {
  const base = demoConfig({ dimensions });
  return parseConfig({
    ...base,
    databaseUrl: testDb.url,
    sync: { ...fastSync, ...overrides.sync },
    ...omit(overrides, 'sync'),
  });
}

function omit<T extends object, K extends keyof T>(value: T, key: K): Omit<T, K> {
  const { [key]: _, ...rest } = value;
  return rest;
}

export async function createProductsTable(db: SqlExecutor): Promise<void> {
  await db.query(demoProductsTableSql);
}

/** Opens a runtime on its own pool (as a separate process would) and sets the collection up. */
export async function openProductsRuntime(
  testDb: TestDatabase,
  options: { config?: ResolvedConfig; setup?: boolean } = {},
): Promise<VectorsyncRuntime> {
  const config = options.config ?? productsConfig(testDb);
  const runtime = await VectorsyncRuntime.open({
    config,
    db: testDb.connect({ applicationName: 'vectorsync-runtime' }),
  });
  if (options.setup ?? true) await setupCollections(runtime);
  return runtime;
}

export function products(count: number, seed = 7): DemoProduct[] {
  return [...generateCatalog(count, seed)];
}

export async function insertProducts(
  db: SqlExecutor,
  tenant: string,
  items: readonly DemoProduct[],
): Promise<void> {
  if (items.length === 0) return;
  await db.query(
    `INSERT INTO products (article_id, tenant_id, name, description, product_type, product_group, color, department, index_name, price)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::numeric[])`,
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

export async function indexRows(
  db: SqlExecutor,
  location: string,
): Promise<Map<string, { tenant: string; version: number; contentHash: string; name?: string }>> {
  const result = await db.query<{ id: string; tenant: string; version: string; content_hash: string }>(
    `SELECT id::text AS id, tenant, version::text AS version, content_hash FROM vectorsync."${location}"`,
  );
  return new Map(
    result.rows.map((row) => [
      row.id,
      { tenant: row.tenant, version: Number(row.version), contentHash: row.content_hash },
    ]),
  );
}

export async function outboxCounts(db: SqlExecutor): Promise<Record<string, number>> {
  const result = await db.query<{ status: string; count: number }>(
    'SELECT status, count(*)::int AS count FROM vectorsync.outbox GROUP BY status',
  );
  return Object.fromEntries(result.rows.map((row) => [row.status, row.count]));
}

/** True when every outbox event has been applied (none pending, processing or failed). */
export async function outboxDrained(db: SqlExecutor): Promise<boolean> {
  const result = await db.query<{ open: number }>(
    `SELECT count(*)::int AS open FROM vectorsync.outbox WHERE status <> 'done'`,
  );
  return result.rows[0]!.open === 0;
}

/**
 * Waits until the outbox is drained, failing only when the number of open events has not gone
 * down for `stallMs`: a backlog that a busy machine applies slowly is not an error, one that
 * stops moving is.
 */
export async function waitForOutboxDrain(
  db: SqlExecutor,
  options: { stallMs?: number; message?: string } = {},
): Promise<void> {
  const stallMs = options.stallMs ?? 20_000;
  let lowest = Number.POSITIVE_INFINITY;
  let movedAt = Date.now();
  for (;;) {
    const result = await db.query<{ open: number; failed: number }>(
      `SELECT count(*)::int AS open, count(*) FILTER (WHERE status = 'failed')::int AS failed
         FROM vectorsync.outbox WHERE status <> 'done'`,
    );
    const { open, failed } = result.rows[0]!;
    if (open === 0) return;
    if (open < lowest) {
      lowest = open;
      movedAt = Date.now();
    } else if (Date.now() - movedAt > stallMs) {
      throw new Error(
        `${options.message ?? 'the outbox'}: ${open} events still open (${failed} failed), none applied for ${stallMs} ms`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The index must equal what a fresh rebuild from the source would produce (invariant 2). */
export async function assertIndexMatchesSource(db: SqlExecutor, location: string): Promise<{ rows: number }> {
  const result = await db.query<{ problem: string }>(
    `SELECT 'missing ' || p.article_id AS problem FROM products p LEFT JOIN vectorsync."${location}" i ON i.id = p.article_id WHERE i.id IS NULL
     UNION ALL
     SELECT 'orphan ' || i.id FROM vectorsync."${location}" i LEFT JOIN products p ON p.article_id = i.id WHERE p.article_id IS NULL
     UNION ALL
     SELECT 'stale ' || p.article_id || ' index v' || i.version || ' source v' || p.version || ' tenant ' || i.tenant || '/' || p.tenant_id
       FROM products p JOIN vectorsync."${location}" i ON i.id = p.article_id
      WHERE i.version <> p.version OR i.tenant <> p.tenant_id
     LIMIT 20`,
  );
  if (result.rows.length > 0)
    throw new Error(
      `index ${location} differs from source:\n${result.rows.map((row) => row.problem).join('\n')}`,
    );
  const count = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM products');
  return { rows: count.rows[0]!.n };
}

export interface ProductsConfigOptions {
  mode?: 'outbox' | 'cdc' | 'dual-write';
  bus?: ConfigInput['bus'];
  /** Overrides of the `cdc` section; the slot name defaults to one unique to the test database. */
  cdc?: ConfigInput['cdc'];
  sync?: Partial<SyncConfig>;
  /** Put the pgvector store in another database (to stop it for real). */
  storeDatabaseUrl?: string;
  dimensions?: number;
}

/** The demo collection in a chosen sync mode, with test-speed timings. */
export function productsConfigWith(
  testDb: TestDatabase,
  options: ProductsConfigOptions = {},
): ResolvedConfig {
  const base = demoConfig({ dimensions: options.dimensions ?? 64 });
  const products = base.collections.products!;
  return parseConfig({
    ...base,
    databaseUrl: testDb.url,
    sync: { ...fastSync, ...options.sync },
    stores: {
      main: {
        provider: 'pgvector',
        ...(options.storeDatabaseUrl ? { databaseUrl: options.storeDatabaseUrl } : {}),
      },
    },
    collections: {
      products: {
        ...products,
        sync: { mode: options.mode ?? 'outbox', bus: options.bus !== undefined },
      },
    },
    cdc: {
      slot: `vs_${testDb.name}`.slice(0, 63),
      batchDelayMs: 5,
      statusIntervalMs: 500,
      reconnectMaxMs: 500,
      ...options.cdc,
    },
    ...(options.bus ? { bus: options.bus } : {}),
  });
}

/** Source rows against index rows read from another database (a store in its own Postgres). */
export async function assertIndexMatchesSourceAcross(
  source: SqlExecutor,
  store: SqlExecutor,
  location: string,
): Promise<{ rows: number }> {
  const sourceRows = await source.query<{ id: string; tenant: string; version: string }>(
    'SELECT article_id AS id, tenant_id AS tenant, version::text AS version FROM products',
  );
  const indexed = await indexRows(store, location);
  const problems: string[] = [];
  for (const row of sourceRows.rows) {
    const stored = indexed.get(row.id);
    if (!stored) problems.push(`missing ${row.id}`);
    else if (stored.version !== Number(row.version) || stored.tenant !== row.tenant)
      problems.push(
        `stale ${row.id}: index v${stored.version}/${stored.tenant}, source v${row.version}/${row.tenant}`,
      );
    indexed.delete(row.id);
  }
  for (const id of indexed.keys()) problems.push(`orphan ${id}`);
  if (problems.length > 0)
    throw new Error(`index ${location} differs from source:\n${problems.slice(0, 20).join('\n')}`);
  return { rows: sourceRows.rows.length };
}

/** True once the index equals the source (for waitFor). */
export async function indexMatchesSource(
  db: SqlExecutor,
  location: string,
  store?: SqlExecutor,
): Promise<boolean> {
  try {
    if (store) await assertIndexMatchesSourceAcross(db, store, location);
    else await assertIndexMatchesSource(db, location);
    return true;
  } catch {
    return false;
  }
}
