import pg from 'pg';
import type { ConfigInput, IndexOpsConfig } from '../../src/config/config-schema.js';
import type { ResolvedConfig } from '../../src/config/resolve-config.js';
import { PgDatabase } from '../../src/db/pg-database.js';
import { VectorsyncRuntime } from '../../src/runtime/vectorsync-runtime.js';
import { SearchService } from '../../src/search/search-service.js';
import { OutboxWorker } from '../../src/sync/outbox-worker.js';
import {
  createProductsTable,
  insertProducts,
  openProductsRuntime,
  outboxDrained,
  products,
  productsConfig,
} from './products-fixture.js';
import type { TestDatabase } from './test-environment.js';
import { waitFor } from './wait-for.js';

/** Index-operation settings that react within a test's time scale. */
export const fastIndexOps: Partial<IndexOpsConfig> = {
  pollIntervalMs: 50,
  logIntervalMs: 1000,
  heartbeatTimeoutMs: 1500,
  minRateGraceSeconds: 0.3,
  maintenanceWorkMem: '64MB',
  parallelWorkers: 0,
  verifyQueries: 30,
};

export function indexOpsConfig(
  testDb: TestDatabase,
  indexOps: Partial<IndexOpsConfig> = {},
  dimensions = 96,
  overrides: Partial<ConfigInput> = {},
): ResolvedConfig {
  return productsConfig(
    testDb,
    { indexOps: { ...fastIndexOps, ...indexOps } as never, ...overrides },
    dimensions,
  );
}

/**
 * Products in three tenants, synced into the collection's index through the real outbox
 * worker. Returns the runtime (on its own pool) once the index holds every row.
 */
export async function seededRuntime(
  testDb: TestDatabase,
  config: ResolvedConfig,
  rows: { acme: number; globex: number; initech: number },
): Promise<VectorsyncRuntime> {
  await createProductsTable(testDb.db);
  let seed = 1;
  for (const [tenant, count] of Object.entries(rows)) {
    const items = products(count, seed++).map((item, i) => ({ ...item, article_id: `${tenant}-${i}` }));
    for (let start = 0; start < items.length; start += 2000)
      await insertProducts(testDb.db, tenant, items.slice(start, start + 2000));
  }
  const runtime = await openProductsRuntime(testDb, { config });
  const worker = new OutboxWorker({ runtime });
  await worker.start();
  try {
    await waitFor(() => outboxDrained(testDb.db), { timeoutMs: 120_000, message: 'the backfill to drain' });
  } finally {
    await worker.stop();
  }
  await testDb.db.query(`ANALYZE vectorsync."${runtime.activeTarget('products').record.location}"`);
  return runtime;
}

export interface ProbeStats {
  searches: number;
  errors: string[];
  /** Samples of pg_stat_activity that caught a probe backend waiting on a heavyweight lock. */
  lockWaits: Array<{ wait: string; query: string }>;
  /** Searches that completed while `during()` was true. */
  searchesDuring: number;
}

/**
 * Searches without pause through the real search service, on a pool whose sessions have
 * lock_timeout = 500ms (a search that had to wait for a lock that long fails), while another
 * connection samples pg_stat_activity for probe backends waiting on a lock. Both are
 * measurements of "no search waits on a lock", not timings.
 */
export class SearchProbe {
  private stopped = false;
  private readonly stats: ProbeStats = { searches: 0, errors: [], lockWaits: [], searchesDuring: 0 };
  private loops: Promise<void>[] = [];
  private readonly db: PgDatabase;
  private runtime: VectorsyncRuntime | undefined;
  private readonly monitor: PgDatabase;

  constructor(
    testDb: TestDatabase,
    private readonly config: ResolvedConfig,
    private readonly during: () => boolean = () => true,
  ) {
    const pool = new pg.Pool({
      connectionString: testDb.url,
      max: 3,
      application_name: 'vs-search-probe',
      options: '-c lock_timeout=500',
    });
    this.db = new PgDatabase({ pool, ownsPool: true });
    this.monitor = testDb.connect({ max: 1, applicationName: 'vs-lock-monitor' });
  }

  async start(): Promise<void> {
    this.runtime = await VectorsyncRuntime.open({ config: this.config, db: this.db });
    const search = new SearchService(this.runtime);
    const queries = ['red dress', 'warm winter jacket', 'cotton shirt', 'leather boots', 'black trousers'];
    const tenants = ['acme', 'globex', 'initech'];
    for (let loop = 0; loop < 2; loop++) {
      this.loops.push(
        (async () => {
          for (let n = loop; !this.stopped; n++) {
            try {
              await search.search({
                collection: 'products',
                tenant: tenants[n % tenants.length]!,
                query: queries[n % queries.length]!,
                mode: 'semantic',
                k: 10,
              });
              this.stats.searches++;
              if (this.during()) this.stats.searchesDuring++;
            } catch (error) {
              this.stats.errors.push((error as Error).message);
            }
          }
        })(),
      );
    }
    this.loops.push(
      (async () => {
        while (!this.stopped) {
          const waits = await this.monitor.query<{ wait: string; query: string }>(
            `SELECT wait_event_type || ':' || wait_event AS wait, left(query, 120) AS query FROM pg_stat_activity
              WHERE datname = current_database() AND application_name = 'vs-search-probe' AND wait_event_type = 'Lock'`,
          );
          this.stats.lockWaits.push(...waits.rows);
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      })(),
    );
  }

  get searches(): number {
    return this.stats.searches;
  }

  /** What the probe has seen so far (while it runs). */
  get seen(): Readonly<ProbeStats> {
    return this.stats;
  }

  async stop(): Promise<ProbeStats> {
    this.stopped = true;
    await Promise.all(this.loops);
    await this.runtime?.close();
    await this.db.close();
    return this.stats;
  }
}

/**
 * Holds a transaction that locks the index table as a writer does (ROW EXCLUSIVE). CREATE
 * INDEX CONCURRENTLY waits for it before building (phase "waiting for writers before build"),
 * with its invalid index already in the catalog: a deterministic "mid-build" for tests.
 */
export async function holdWriter(testDb: TestDatabase, location: string): Promise<() => Promise<void>> {
  const client = new pg.Client({ connectionString: testDb.url, application_name: 'vs-held-writer' });
  await client.connect();
  await client.query('BEGIN');
  await client.query(`LOCK TABLE vectorsync."${location}" IN ROW EXCLUSIVE MODE`);
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    await client.query('COMMIT').catch(() => undefined);
    await client.end();
  };
}

/** The phase pg_stat_progress_create_index reports for a CREATE INDEX on the table, if one runs. */
export async function buildPhase(testDb: TestDatabase, location: string): Promise<string | undefined> {
  const result = await testDb.db.query<{ phase: string }>(
    `SELECT phase FROM pg_stat_progress_create_index WHERE relid = to_regclass($1)`,
    [`vectorsync."${location}"`],
  );
  return result.rows[0]?.phase;
}

export async function annIndexNames(
  testDb: TestDatabase,
  location: string,
): Promise<Array<{ name: string; valid: boolean; predicate: string | null; options: string[] | null }>> {
  const result = await testDb.db.query<{
    name: string;
    valid: boolean;
    predicate: string | null;
    options: string[] | null;
  }>(
    `SELECT c.relname AS name, i.indisvalid AS valid, pg_get_expr(i.indpred, i.indrelid) AS predicate, c.reloptions AS options
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
      WHERE i.indrelid = to_regclass($1) AND a.amname IN ('hnsw', 'ivfflat') ORDER BY c.relname`,
    [`vectorsync."${location}"`],
  );
  return result.rows;
}
