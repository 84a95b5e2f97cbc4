/**
 * npm run bench:relations [-- --products=20000 --fanout=10000]
 *
 * Fan-out of a change to a related row: a brand renamed under `fanout` of `products` products
 * (documents built from products, brands, variants), synced through the outbox into pgvector
 * with two workers. Measured in the same run, doing the same indexing work:
 *  - the write: the brand UPDATE (its dependency trigger maps rows, bumps revisions and queues
 *    `fanout` events) against an UPDATE of the same products' own rows (their capture trigger
 *    queues the same number of events);
 *  - the drain: from the commit until every affected document is in the index at its new
 *    version, documents per second;
 *  - what was queued: exactly `fanout` events, none for the other products.
 */

import { parseConfig } from '../src/config/resolve-config.js';
import { silentLogger } from '../src/logger.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import {
  benchDatabase,
  integerArgument,
  machineDescription,
  markdownTable,
  printTable,
  writeReport,
} from './bench-environment.js';

const PRODUCTS = integerArgument('products', 20_000);
const FANOUT = Math.min(PRODUCTS, integerArgument('fanout', 10_000));

async function main(): Promise<void> {
  const bench = await benchDatabase('relations');
  const { db } = bench;
  try {
    await db.query(`CREATE TABLE brands (id int PRIMARY KEY, name text NOT NULL)`);
    await db.query(`CREATE TABLE products (id int PRIMARY KEY, tenant_id text NOT NULL, name text NOT NULL,
                      brand_id int, version bigint NOT NULL DEFAULT 0)`);
    await db.query(`CREATE INDEX ON products (brand_id)`);
    await db.query(
      `CREATE TABLE variants (id int PRIMARY KEY, product_id int NOT NULL, color text, size text)`,
    );
    await db.query(`CREATE INDEX ON variants (product_id)`);
    await db.query(`INSERT INTO brands SELECT b, 'Brand ' || b FROM generate_series(1, 3) b`);
    // Brand 1 has `FANOUT` products; the others share the rest.
    await db.query(
      `INSERT INTO products (id, tenant_id, name, brand_id)
       SELECT p, 'acme', 'Product ' || p, CASE WHEN p <= $2 THEN 1 ELSE 2 + p % 2 END FROM generate_series(1, $1) p`,
      [PRODUCTS, FANOUT],
    );
    await db.query(
      `INSERT INTO variants SELECT p * 4 + v, p, (ARRAY['red','blue','green','black'])[1 + (p + v) % 4], 'S' || v
         FROM generate_series(1, $1) p, generate_series(0, 3) v`,
      [PRODUCTS],
    );
    const config = parseConfig({
      databaseUrl: bench.url,
      embedders: { default: { provider: 'hash', dimensions: 64 } },
      stores: { main: { provider: 'pgvector' } },
      sync: { concurrency: 2, batchSize: 500, pollIntervalMs: 50 },
      collections: {
        catalog: {
          table: 'products',
          primaryKey: 'id',
          tenantColumn: 'tenant_id',
          versionColumn: 'version',
          manageVersion: true,
          text: '{{name}} by {{brand.name}} in {{variants.color | distinct}}, sizes {{variants.size}}',
          keywordFields: ['name', 'brand.name', 'variants.color'],
          payloadFields: [
            { name: 'brand', value: 'brand.name' },
            { name: 'variants', value: 'variants | count' },
          ],
          relations: {
            brand: { table: 'brands', kind: 'one', foreignKey: 'brand_id' },
            variants: { table: 'variants', kind: 'many', foreignKey: 'product_id' },
          },
          store: 'main',
          embedder: 'default',
        },
      },
    });
    const runtime = await VectorsyncRuntime.open({ config, db, logger: silentLogger });
    await setupCollections(runtime);
    const workers = new SyncWorkers(runtime, silentLogger);
    await workers.start();
    const location = runtime.activeTarget('catalog').record.location;
    const pending = async () =>
      Number(
        (
          await db.query<{ n: string }>(
            `SELECT count(*)::text AS n FROM vectorsync.outbox WHERE status IN ('pending', 'processing')`,
          )
        ).rows[0]!.n,
      );
    const drained = async () => {
      while ((await pending()) > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    };
    await drained();

    /** Runs a write, then waits until the affected documents are indexed at their new versions. */
    const measure = async (label: string, statement: string) => {
      const lastEvent = Number(
        (await db.query<{ n: string | null }>('SELECT max(id)::text AS n FROM vectorsync.outbox')).rows[0]!
          .n ?? 0,
      );
      const started = performance.now();
      await db.query(statement);
      const written = performance.now();
      await drained();
      const done = performance.now();
      const queued = Number(
        (
          await db.query<{ n: string }>('SELECT count(*)::text AS n FROM vectorsync.outbox WHERE id > $1', [
            lastEvent,
          ])
        ).rows[0]!.n,
      );
      // Every affected document is current: its indexed version is its source version now.
      const stale = Number(
        (
          await db.query<{ n: string }>(
            `SELECT count(*)::text AS n FROM products p JOIN vectorsync."${location}" i ON i.id::text = p.id::text
              WHERE i.version <> p.version + vectorsync.document_revision('catalog', p.id::text)`,
          )
        ).rows[0]!.n,
      );
      return {
        write: label,
        'events queued': queued,
        'statement ms': Math.round(written - started),
        'drain s': ((done - written) / 1000).toFixed(2),
        'documents/s': queued === 0 ? '-' : Math.round(queued / ((done - written) / 1000)),
        'stale after': stale,
      };
    };
    const rows = [
      await measure(
        `rename the brand of ${FANOUT} products`,
        `UPDATE brands SET name = 'Renamed' WHERE id = 1`,
      ),
      await measure(
        `update those ${FANOUT} products' own rows (baseline)`,
        `UPDATE products SET name = name || '.' WHERE brand_id = 1`,
      ),
      await measure(
        'an update of the brand that changes nothing documents read',
        `UPDATE brands SET name = name WHERE id = 1`,
      ),
    ];
    await workers.stop();
    await runtime.close();
    printTable(rows);
    const markdown = `# Relations: fan-out of a related row's change

\`npm run bench:relations -- --products=${PRODUCTS} --fanout=${FANOUT}\` on ${machineDescription()}.
Documents built from products, brands and variants (4 per product), hash embedder (64 dimensions),
pgvector with HNSW, outbox mode, two workers, batches of 500. The baseline does the same indexing
work: the same ${FANOUT} documents re-indexed, queued by their own rows' capture trigger instead of
by the brand's dependency trigger.

${markdownTable(rows)}

- "events queued": one per affected product; the products of other brands get none.
- "statement ms": the writing statement, triggers included (the write cost of the fan-out).
- "drain s": from the commit until the outbox is empty; "stale after" counts indexed documents
  whose version is not their source version then (0: every affected document is current).
`;
    await writeReport('relations', markdown, { products: PRODUCTS, fanout: FANOUT, rows });
  } finally {
    await bench.close();
  }
}

await main();
