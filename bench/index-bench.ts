/**
 * npm run bench:index — safe index operations on pgvector, through the real commands:
 *  (a) HNSW build time for N 384-d vectors, CREATE INDEX CONCURRENTLY vs a blocking build,
 *      with 0, 1 and 2 parallel maintenance workers;
 *  (b) rehearsal prediction error: `index rehearse` on samples of the current rows, then the
 *      real concurrent build, which takes its expected duration from the rehearsal (target ±25%);
 *  (c) search latency while a blue/green rebuild builds beside the serving index vs idle, with
 *      lock waits of the searching backends sampled from pg_stat_activity.
 *
 *   npm run bench:index                                     100k and 300k rows (the full run)
 *   npm run bench:index -- --sizes=20000 --rehearsal-rows=6000 --workers=0,2   a quick check
 *
 * Vectors come from the hash embedder (384-d) over a generated catalog, loaded through the
 * outbox like production data, so rows are as wide as real index rows (payload, BM25 terms).
 */

import { IndexProgressBar } from '../src/cli/index-progress-bar.js';
import { parseConfig } from '../src/config/resolve-config.js';
import { PgDatabase } from '../src/db/pg-database.js';
import { IndexOperations } from '../src/indexops/index-operations.js';
import type { IndexOperation } from '../src/indexops/operation-history.js';
import type { OperationRun } from '../src/indexops/operation-run.js';
import type { Logger } from '../src/logger.js';
import { silentLogger } from '../src/logger.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { SearchService } from '../src/search/search-service.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import {
  benchDatabase,
  machineDescription,
  markdownTable,
  percentile,
  printTable,
  writeReport,
} from './bench-environment.js';
import { generateRealisticCorpus, realisticQueries } from './realistic-corpus.js';

function listArg(name: string, fallback: number[]): number[] {
  const value = process.argv.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1];
  return value ? value.split(',').map((part) => Number(part.trim())) : fallback;
}
function numberArg(name: string, fallback: number): number {
  const value = process.argv.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1];
  return value ? Number(value) : fallback;
}

const SIZES = listArg('sizes', [100_000, 300_000]);
const WORKERS = listArg('workers', [0, 1, 2]);
const REHEARSE_WORKERS = listArg('rehearse-workers', [0, 2]).filter((workers) => WORKERS.includes(workers));
const REHEARSAL_ROWS = numberArg('rehearsal-rows', 30_000);
const DIMENSIONS = numberArg('dims', 384);
const TENANTS = 10;
const MAINTENANCE_WORK_MEM = '1GB';

const bar = new IndexProgressBar(process.stdout);
const log = (line: string) => bar.message(`[bench:index] ${line}`);

function collectionConfig(url: string, parallelWorkers: number) {
  return parseConfig({
    databaseUrl: url,
    embedders: { hash: { provider: 'hash', dimensions: DIMENSIONS } },
    stores: { main: { provider: 'pgvector', hnsw: { m: 16, efConstruction: 64, efSearch: 40 } } },
    collections: {
      docs: {
        table: 'bench_docs',
        primaryKey: 'id',
        tenantColumn: 'tenant',
        versionColumn: 'version',
        manageVersion: true,
        text: '{{name}}. {{product_type}} in {{color}} from {{department}}. {{description}}',
        keywordFields: ['name', 'product_type', 'color', 'description'],
        payloadFields: ['product_type', 'color', 'price'],
        store: 'main',
        embedder: 'hash',
      },
    },
    sync: { batchSize: 1000, concurrency: 2 },
    indexOps: {
      maintenanceWorkMem: MAINTENANCE_WORK_MEM,
      parallelWorkers,
      verifyQueries: 20,
      pollIntervalMs: 500,
      logIntervalMs: 60_000,
      rehearsal: { sampleRows: REHEARSAL_ROWS, steps: 3 },
    },
  });
}

/** Loads the corpus through the outbox (capture triggers + a worker), without an ANN index yet. */
async function load(db: PgDatabase, runtime: VectorsyncRuntime, rows: number): Promise<void> {
  const location = runtime.activeTarget('docs').record.location;
  await db.query(`DROP INDEX IF EXISTS vectorsync."${location}_hnsw"`);
  const corpus = generateRealisticCorpus(rows);
  const started = performance.now();
  for (let start = 0; start < rows; start += 10_000) {
    const chunk = Array.from({ length: Math.min(10_000, rows - start) }, () => corpus.next().value!);
    await db.query(
      `INSERT INTO bench_docs (id, tenant, name, description, product_type, color, department, price)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::numeric[])`,
      [
        chunk.map((d) => d.id),
        chunk.map((_, i) => `tenant-${(start + i) % TENANTS}`),
        chunk.map((d) => d.name),
        chunk.map((d) => d.description),
        chunk.map((d) => d.product_type),
        chunk.map((d) => d.color),
        chunk.map((d) => d.department),
        chunk.map((d) => d.price),
      ],
    );
  }
  const worker = new OutboxWorker({ runtime });
  await worker.start();
  for (;;) {
    const open = await db.query<{ n: number; done: number }>(
      `SELECT count(*) FILTER (WHERE status <> 'done')::int AS n, count(*) FILTER (WHERE status = 'done')::int AS done FROM vectorsync.outbox`,
    );
    log(`loading: ${open.rows[0]!.done}/${rows} rows indexed`);
    if (open.rows[0]!.n === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 5000));
  }
  await worker.stop();
  await db.query(`VACUUM ANALYZE vectorsync."${location}"`);
  log(`loaded ${rows} rows through the outbox in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

function progress(label: string) {
  return (run: OperationRun) => {
    log(`${label}: operation #${run.id}`);
    run.on('progress', (p, build) => bar.update(p, `${label} ${build}`));
    run.on('warning', (warning) => log(`warning ${warning.code}: ${warning.message}`));
  };
}

function succeeded(operation: IndexOperation): IndexOperation {
  if (operation.state !== 'succeeded')
    throw new Error(
      `operation #${operation.id} ${operation.kind} ${operation.state}: ${operation.error ?? operation.abortReason}`,
    );
  return operation;
}

async function dropAnnIndexes(db: PgDatabase, location: string): Promise<void> {
  const indexes = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
      WHERE i.indrelid = to_regclass($1) AND a.amname IN ('hnsw', 'ivfflat')`,
    [`vectorsync."${location}"`],
  );
  for (const { name } of indexes.rows) await db.query(`DROP INDEX vectorsync."${name}"`);
}

interface BuildRow {
  rows: number;
  mode: string;
  workers: number;
  launched: number;
  seconds: number;
  predicted: number | null;
  rehearsal: number | null;
}

interface LatencyRow {
  rows: number;
  phase: string;
  searches: number;
  p50: number;
  p95: number;
  p99: number;
  lockWaits: number;
  errors: number;
}

async function benchmarkSize(rows: number, logger: Logger) {
  const env = await benchDatabase(`index_${rows}`, {
    max_parallel_maintenance_workers: 8,
    max_worker_processes: 16,
    max_parallel_workers: 8,
  });
  const builds: BuildRow[] = [];
  const rehearsals: Array<Record<string, string | number>> = [];
  const latency: LatencyRow[] = [];
  try {
    await env.db.query(`CREATE TABLE bench_docs (
      id text PRIMARY KEY, tenant text NOT NULL, name text, description text, product_type text, color text,
      department text, price numeric(10,2), version bigint NOT NULL DEFAULT 0)`);
    const base = await VectorsyncRuntime.open({ config: collectionConfig(env.url, 0), db: env.db });
    await setupCollections(base);
    const location = base.activeTarget('docs').record.location;
    await load(env.db, base, rows);
    await base.close();

    for (const workers of WORKERS) {
      const runtime = await VectorsyncRuntime.open({
        config: collectionConfig(env.url, workers),
        db: env.db,
        logger,
      });
      const ops = new IndexOperations(runtime, logger);
      let rehearsal: IndexOperation | undefined;
      if (REHEARSE_WORKERS.includes(workers)) {
        rehearsal = succeeded(
          await ops.rehearse({ collection: 'docs', onStart: progress(`rehearsal, ${workers} workers`) }),
        );
        log(
          `rehearsal #${rehearsal.id}: ${rehearsal.result.modelText}; predicts ${Number(rehearsal.result.predictedSeconds).toFixed(1)} s`,
        );
      }
      for (const blocking of [false, true]) {
        const mode = blocking ? 'blocking' : 'concurrent';
        const operation = succeeded(
          await ops.build({
            collection: 'docs',
            ...(blocking ? { blocking, reason: 'benchmark: blocking build for comparison' } : {}),
            deadline: '6h',
            onStart: progress(`${rows} rows, ${mode}, ${workers} workers`),
          }),
        );
        const build = operation.result.build as {
          seconds: number;
          settingsUsed: { workersLaunched: number };
        };
        const criteria = operation.criteria as { expectedSeconds: number | null; rehearsalId: number | null };
        builds.push({
          rows,
          mode,
          workers,
          launched: build.settingsUsed.workersLaunched,
          seconds: build.seconds,
          predicted: criteria.expectedSeconds,
          rehearsal: criteria.rehearsalId,
        });
        log(`${mode} build, ${workers} workers: ${build.seconds.toFixed(1)} s`);
        if (!blocking && rehearsal && criteria.expectedSeconds !== null) {
          const error = (criteria.expectedSeconds - build.seconds) / build.seconds;
          const points = rehearsal.result.points as Array<{ rows: number; seconds: number }>;
          rehearsals.push({
            rows,
            workers,
            'sample sizes (s)': points
              .map((point) => `${point.rows} (${point.seconds.toFixed(1)})`)
              .join(', '),
            'rehearsal s': (Number(rehearsal.durationMs ?? 0) / 1000).toFixed(1),
            model: String(rehearsal.result.modelText),
            'predicted s': criteria.expectedSeconds.toFixed(1),
            'actual s': build.seconds.toFixed(1),
            error: `${error >= 0 ? '+' : ''}${(error * 100).toFixed(1)}%`,
            'within ±25%': Math.abs(error) <= 0.25 ? 'yes' : 'no',
          });
        }
        await dropAnnIndexes(env.db, location);
      }
      await runtime.close();
    }

    // (c) search while a blue/green rebuild builds beside the serving index.
    const workers = WORKERS.at(-1)!;
    const runtime = await VectorsyncRuntime.open({
      config: collectionConfig(env.url, workers),
      db: env.db,
      logger,
    });
    const ops = new IndexOperations(runtime, logger);
    succeeded(
      await ops.build({
        collection: 'docs',
        blocking: true,
        reason: 'benchmark setup: the serving index',
        onStart: progress('serving index'),
      }),
    );
    latency.push(...(await searchDuringRebuild(env.url, runtime, ops, rows)));
    await runtime.close();
  } finally {
    await env.close();
  }
  return { builds, rehearsals, latency };
}

/**
 * One search client, back to back, on its own pool (as the service would be); each latency is
 * tagged with the rebuild's step at the time. A second connection samples pg_stat_activity for
 * search backends waiting on a lock.
 */
async function searchDuringRebuild(
  url: string,
  runtime: VectorsyncRuntime,
  ops: IndexOperations,
  rows: number,
): Promise<LatencyRow[]> {
  const searchDb = PgDatabase.fromUrl(url, { max: 2, applicationName: 'bench-search' });
  const monitor = PgDatabase.fromUrl(url, { max: 1, applicationName: 'bench-monitor' });
  const searcher = await VectorsyncRuntime.open({ config: runtime.config, db: searchDb });
  const search = new SearchService(searcher);
  const queries = realisticQueries(500);
  let phase = 'idle (before)';
  let stopped = false;
  const samples = new Map<string, { latencies: number[]; errors: number; lockWaits: number }>();
  const bucket = (name: string) => {
    let entry = samples.get(name);
    if (!entry) {
      entry = { latencies: [], errors: 0, lockWaits: 0 };
      samples.set(name, entry);
    }
    return entry;
  };
  const client = (async () => {
    for (let n = 0; !stopped; n++) {
      const current = phase;
      const started = performance.now();
      try {
        await search.search({
          collection: 'docs',
          tenant: `tenant-${n % TENANTS}`,
          query: queries[n % queries.length]!,
          mode: 'semantic',
          k: 10,
        });
        bucket(current).latencies.push(performance.now() - started);
      } catch {
        bucket(current).errors++;
      }
    }
  })();
  const sampler = (async () => {
    while (!stopped) {
      const waits = await monitor.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'bench-search' AND wait_event_type = 'Lock'`,
      );
      bucket(phase).lockWaits += waits.rows[0]!.n;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, 20_000));
  const operation = await ops.rebuild({
    collection: 'docs',
    deadline: '6h',
    onStart: (run) => {
      progress(`${rows} rows, rebuild beside the serving index`)(run);
      run.on('step', (step) => {
        phase = step === 'building' ? 'concurrent build beside the serving index' : `rebuild: ${step}`;
      });
    },
  });
  phase = 'idle (after swap)';
  await new Promise((resolve) => setTimeout(resolve, 20_000));
  stopped = true;
  await Promise.all([client, sampler]);
  await searcher.close();
  await searchDb.close();
  await monitor.close();
  succeeded(operation);
  return [...samples.entries()]
    .filter(([, entry]) => entry.latencies.length > 0 || entry.errors > 0)
    .map(([name, entry]) => ({
      rows,
      phase: name,
      searches: entry.latencies.length,
      p50: percentile(entry.latencies, 50),
      p95: percentile(entry.latencies, 95),
      p99: percentile(entry.latencies, 99),
      lockWaits: entry.lockWaits,
      errors: entry.errors,
    }));
}

async function main() {
  const machine = machineDescription();
  console.log(
    `vectorsync index benchmark — ${SIZES.join(', ')} rows × ${DIMENSIONS}-d, workers ${WORKERS.join('/')}, rehearsal samples up to ${REHEARSAL_ROWS} rows — ${machine}\n`,
  );
  const logger = silentLogger;
  const builds: BuildRow[] = [];
  const rehearsals: Array<Record<string, string | number>> = [];
  const latency: LatencyRow[] = [];
  for (const rows of SIZES) {
    const result = await benchmarkSize(rows, logger);
    builds.push(...result.builds);
    rehearsals.push(...result.rehearsals);
    latency.push(...result.latency);
  }

  const buildTable = builds.map((row) => ({
    rows: row.rows,
    mode: row.mode,
    'parallel workers (launched)': `${row.workers} (${row.launched})`,
    seconds: row.seconds.toFixed(1),
    'rows/s': Math.round(row.rows / row.seconds),
    'vs blocking': (() => {
      const blocking = builds.find(
        (b) => b.rows === row.rows && b.workers === row.workers && b.mode === 'blocking',
      );
      return blocking ? `${(row.seconds / blocking.seconds).toFixed(2)}×` : '-';
    })(),
  }));
  const latencyTable = latency.map((row) => ({
    rows: row.rows,
    phase: row.phase,
    searches: row.searches,
    'p50 ms': row.p50.toFixed(1),
    'p95 ms': row.p95.toFixed(1),
    'p99 ms': row.p99.toFixed(1),
    'lock waits seen': row.lockWaits,
    errors: row.errors,
  }));
  console.log('\nBuild time');
  printTable(buildTable);
  console.log('\nRehearsal prediction');
  if (rehearsals.length) printTable(rehearsals);
  console.log('\nSearch latency during a rebuild');
  printTable(latencyTable);

  const reduced = SIZES.some((rows) => rows < 100_000) || process.argv.some((arg) => arg.startsWith('--'));
  const markdown = `# Index operations benchmark (pgvector)

Measured by \`npm run bench:index${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\` on ${new Date().toISOString().slice(0, 10)}: ${machine}.${reduced ? '\n\n**Reduced scale / non-default flags: not the reference run.**' : ''}
Postgres is a throwaway local cluster with durable commits; maintenance_work_mem ${MAINTENANCE_WORK_MEM}. Vectors: the
\`hash\` embedder (${DIMENSIONS}-d) over a generated catalog of ${TENANTS} tenants, loaded through the outbox. Index: HNSW
m=16, ef_construction=64. Every build runs through \`vectorsync index build\` / \`rehearse\` / \`rebuild\`
(src/indexops); seconds are the CREATE INDEX statement's.

## Build time: concurrent vs blocking, by parallel workers

"launched" is the most parallel workers seen attached to the build's backend (pg_stat_activity).
A concurrent build scans the table a second time to validate; it blocks no writes.

${markdownTable(buildTable)}

## Rehearsal prediction against the actual build

\`vectorsync index rehearse\` built the same index (concurrently, same settings) on random samples of the
current rows (three sizes up to ${REHEARSAL_ROWS}), fitted t = a + b·n·ln n and predicted the full
build; the next \`index build\` took it as its expected duration. Error = (predicted − actual) / actual; target ±25%.

${rehearsals.length ? markdownTable(rehearsals) : '(no rehearsal in this run)'}

## Search latency while a rebuild builds beside the serving index

One client searches (semantic, k=10, tenant-scoped) back to back throughout a blue/green
\`vectorsync index rebuild\` (same parameters) with ${WORKERS.at(-1)} parallel workers: before, while the candidate is built on the
verification copy, while it is built CONCURRENTLY on the live table, during the swap
(DROP INDEX CONCURRENTLY) and after. "lock waits seen" counts samples (every 20 ms) of
pg_stat_activity catching the search backend waiting on a lock. On 2 cores the build competes
with the searches for CPU: the latency cost is CPU, not locks.

${markdownTable(latencyTable)}
`;
  await writeReport('index', markdown, {
    machine,
    sizes: SIZES,
    workers: WORKERS,
    builds,
    rehearsals,
    latency,
  });
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
