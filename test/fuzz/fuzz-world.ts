import type { FastifyInstance } from 'fastify';
import { parseConfig } from '../../src/config/resolve-config.js';
import { demoConfig } from '../../src/demo/demo-schema.js';
import { silentLogger } from '../../src/logger.js';
import { VectorsyncRuntime } from '../../src/runtime/vectorsync-runtime.js';
import { createApiKey, revokeApiKey } from '../../src/server/api-keys.js';
import { createServer } from '../../src/server/create-server.js';
import { ServiceMetrics } from '../../src/server/metrics.js';
import { OutboxWorker } from '../../src/sync/outbox-worker.js';
import { setupCollections } from '../../src/sync/setup-collections.js';
import { createProductsTable, fastSync } from '../helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from '../helpers/test-environment.js';
import { waitFor } from '../helpers/wait-for.js';

/** The header in which the fuzzing server names the route that answered ('' for none). */
export const matchedRouteHeader = 'x-fuzz-route';

/** The key kinds every route is called with. */
export const keyKinds = ['none', 'malformed', 'unknown', 'revoked', 'tenantA', 'tenantB', 'admin'] as const;
export type KeyKind = (typeof keyKinds)[number];

/** What one tenant owns, as text that must never reach another tenant's key. */
export interface TenantSecrets {
  tenant: string;
  /** The tenant name, the marker in every seeded value, the seeded ids. */
  tells: string[];
  /** Seeded ids, per collection, as the path's `{id}` takes them. */
  ids: Record<string, string[]>;
}

/**
 * A second collection with a column of every type the document schema maps, a composite key
 * whose first part is the tenant, and payload fields of each filter type.
 */
const gadgetsTableSql = `
CREATE TABLE public.gadgets (
  shop text NOT NULL,
  sku text NOT NULL,
  title varchar(120) NOT NULL,
  notes text,
  tags text[],
  stock int4 NOT NULL DEFAULT 0,
  rating int2,
  weight float8,
  price numeric(12, 2),
  serial uuid,
  active boolean,
  released date,
  restocked_at timestamptz,
  specs jsonb,
  big int8,
  version bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (shop, sku)
)`;

const tenants = { tenantA: 'acme', tenantB: 'globex' } as const;

/** Text no generator produces by chance: finding it in an answer means it came from the seed. */
const markerOf = (tenant: string) => `zqmark${tenant}qz`;

export interface FuzzWorld {
  testDb: TestDatabase;
  runtime: VectorsyncRuntime;
  app: FastifyInstance;
  worker: OutboxWorker;
  keys: Record<KeyKind, string | undefined>;
  secrets: { tenantA: TenantSecrets; tenantB: TenantSecrets };
  /** Waits until the worker has nothing left to do (pending or processing). */
  settle(): Promise<void>;
  close(): Promise<void>;
}

export async function openFuzzWorld(): Promise<FuzzWorld> {
  const testDb = await createTestDatabase('http_fuzz');
  await createProductsTable(testDb.db);
  await testDb.db.query(gadgetsTableSql);
  const base = demoConfig({ dimensions: 16 });
  const config = parseConfig({
    ...base,
    databaseUrl: testDb.url,
    // Maintenance folds the BM25 statistics rows (the same totals in fewer rows): within the
    // suite's minute it would look like a write by whichever request it ran beside.
    sync: { ...fastSync, pruneIntervalMs: 3_600_000 },
    // Small, so that "huge" values reach the limit quickly and snapshots stay cheap.
    server: { bodyLimitBytes: 65_536, aliasCollection: 'products' },
    collections: {
      ...base.collections,
      gadgets: {
        table: 'public.gadgets',
        primaryKey: ['shop', 'sku'],
        tenantColumn: 'shop',
        versionColumn: 'version',
        manageVersion: true,
        text: '{{title}}. {{notes}}',
        keywordFields: ['title', 'notes'],
        payloadFields: [
          'title',
          'tags',
          'stock',
          'rating',
          'weight',
          'price',
          'active',
          'released',
          'restocked_at',
          'specs',
          'big',
        ],
        store: 'main',
        embedder: 'default',
      },
    },
  });
  const runtime = await VectorsyncRuntime.open({
    config,
    db: testDb.connect({ applicationName: 'vectorsync-runtime' }),
  });
  await setupCollections(runtime);
  const worker = new OutboxWorker({ runtime });
  const metrics = new ServiceMetrics(runtime);
  metrics.attachWorker(worker);
  await worker.start();
  const app = createServer({ runtime, logger: silentLogger, metrics });
  // Which route answered (a path with a trailing "/.." is another route, or none).
  app.addHook('onSend', async (request, reply) => {
    reply.header(matchedRouteHeader, request.routeOptions.url ?? '');
  });
  await app.ready();

  const revoked = await createApiKey(testDb.db, { name: 'fuzz-revoked', tenant: tenants.tenantA });
  await revokeApiKey(testDb.db, revoked.record.prefix);
  const keys: Record<KeyKind, string | undefined> = {
    none: undefined,
    malformed: 'vs_not-a-key',
    unknown: 'vs_0000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
    revoked: revoked.key,
    tenantA: (await createApiKey(testDb.db, { name: 'fuzz-a', tenant: tenants.tenantA })).key,
    tenantB: (await createApiKey(testDb.db, { name: 'fuzz-b', tenant: tenants.tenantB })).key,
    admin: (await createApiKey(testDb.db, { name: 'fuzz-admin', admin: true })).key,
  };

  const secrets = {
    tenantA: await seedTenant(testDb, tenants.tenantA, 'ac'),
    tenantB: await seedTenant(testDb, tenants.tenantB, 'gx'),
  };
  const settle = () =>
    waitFor(
      async () =>
        (
          await testDb.db.query<{ open: number }>(
            `SELECT count(*)::int AS open FROM vectorsync.outbox WHERE status IN ('pending', 'processing')`,
          )
        ).rows[0]!.open === 0,
      { message: 'the outbox worker to finish', intervalMs: 5 },
    ).then(() => undefined);
  await settle();
  return {
    testDb,
    runtime,
    app,
    worker,
    keys,
    secrets,
    settle,
    async close() {
      await app.close();
      await worker.stop();
      await runtime.close();
      await testDb.drop();
    },
  };
}

const words = ['rain', 'poncho', 'jacket', 'velvet', 'cape', 'socks', 'lamp', 'kettle'];

async function seedTenant(testDb: TestDatabase, tenant: string, short: string): Promise<TenantSecrets> {
  const marker = markerOf(tenant);
  const productIds = Array.from({ length: 6 }, (_, i) => `${short}-sku-${tenant}-${i}`);
  for (const [i, id] of productIds.entries()) {
    await testDb.db.query(
      `INSERT INTO products (article_id, tenant_id, name, description, product_type, color, price)
       VALUES ($1, $2, $3, $4, 'Jacket', $5, $6)`,
      [
        id,
        tenant,
        `${words[i % words.length]} ${marker}`,
        `${words[(i + 3) % words.length]} ${marker}`,
        marker,
        10 + i,
      ],
    );
  }
  const gadgetSkus = Array.from({ length: 4 }, (_, i) => `g-${tenant}-${i}`);
  for (const [i, sku] of gadgetSkus.entries()) {
    await testDb.db.query(
      `INSERT INTO gadgets (shop, sku, title, notes, tags, stock, rating, weight, price, serial, active, released, restocked_at, specs, big)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, gen_random_uuid(), $10, '2024-01-0${i + 1}', now(), $11, $12)`,
      [
        tenant,
        sku,
        `${words[i]} ${marker}`,
        marker,
        [marker, words[i]!],
        i,
        i,
        i + 0.5,
        i * 3,
        i % 2 === 0,
        JSON.stringify({ marker, n: i }),
        String(2 ** 40 + i),
      ],
    );
  }
  // A composite id is its parts joined by "," (docs/http-api.md).
  const gadgetIds = gadgetSkus.map((sku) => `${tenant},${sku}`);
  return {
    tenant,
    tells: [tenant, marker, ...productIds, ...gadgetSkus],
    ids: { products: productIds, gadgets: gadgetIds },
  };
}
