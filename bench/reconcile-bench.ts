/**
 * npm run bench:reconcile [-- --rows=1000000 --drift=0.001]
 *
 * Reconciliation of a pgvector index against its source at scale:
 *  1. source rows generated with COPY (psql \copy … FROM STDIN, capture triggers off);
 *  2. the index built through the normal apply path (Applier: read source, hash embedder
 *     64-d, version-guarded upsert with BM25 postings) with the HNSW index dropped first:
 *     reconciliation never reads it, and building it would dominate the set-up time;
 *  3. measured, each in its own process (peak RSS is that process's own):
 *     - the in-sync check (fast path: bucket-group checksums, source streamed);
 *     - the naive set comparisons of the same data (all ids of both sides in memory; and with
 *       version and content hash, which is what finding stale records needs);
 *     - 0.1% drift injected (missing, stale, orphaned), then find-and-fix, then a verifying run.
 */
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { PgDatabase } from '../src/db/pg-database.js';
import { generateCatalog } from '../src/demo/catalog-generator.js';
import { demoProductsTableSql } from '../src/demo/demo-schema.js';
import { silentLogger } from '../src/logger.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { Applier } from '../src/sync/applier.js';
import type { ChangeEvent } from '../src/sync/change-event.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import {
  benchDatabase,
  machineDescription,
  markdownTable,
  printTable,
  writeReport,
} from './bench-environment.js';
import { BENCH_DIMENSIONS, benchConfig, type RunResult } from './reconcile-bench-run.js';

const argument = (name: string, fallback: number) => {
  const raw = process.argv.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1];
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`--${name} must be a positive number (got "${raw}")`);
  return value;
};
const ROWS = Math.round(argument('rows', 1_000_000));
const DRIFT = argument('drift', 0.001);
/** Source rows per page in the measured runs (default: the config default, reconcile.pageSize). */
const PAGE_SIZE = process.argv.some((arg) => arg.startsWith('--page-size='))
  ? argument('page-size', 10_000)
  : undefined;
const binDir = process.env.VECTORSYNC_PG_BINDIR ?? '/usr/lib/postgresql/15/bin';
let LOAD_AT_START = '';
/** --keep: leave the database (and the throwaway cluster) running and print its URL for --reuse. */
const KEEP = process.argv.includes('--keep');
/** --reuse=<url>: a database a --keep run left, holding the rows: skips generation and indexing. */
const REUSE = process.argv.find((arg) => arg.startsWith('--reuse='))?.slice('--reuse='.length);

function csv(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Streams generated products into the source table with COPY FROM STDIN through psql. */
async function copySource(url: string, rows: number): Promise<void> {
  const columns =
    'article_id, tenant_id, name, description, product_type, product_group, color, department, index_name, price, version';
  const child = spawn(
    `${binDir}/psql`,
    [url, '-v', 'ON_ERROR_STOP=1', '-c', `\\copy products (${columns}) FROM STDIN WITH (FORMAT csv)`],
    {
      stdio: ['pipe', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  let n = 0;
  let buffer = '';
  for (const item of generateCatalog(rows, 11)) {
    n++;
    buffer += `${[
      item.article_id,
      `tenant-${n % 10}`,
      item.name,
      item.description,
      item.product_type,
      item.product_group,
      item.color,
      item.department,
      item.index_name,
      item.price,
      n,
    ]
      .map(csv)
      .join(',')}\n`;
    if (buffer.length > 1 << 20) {
      if (!child.stdin.write(buffer)) await new Promise((resolve) => child.stdin.once('drain', resolve));
      buffer = '';
    }
  }
  child.stdin.end(buffer);
  const code = await exited;
  if (code !== 0) throw new Error(`psql \\copy failed (${code}): ${stderr}`);
}

/**
 * Builds the index through the Applier (the path every sync mode uses), in keyset batches,
 * two in flight so that this process and Postgres work at the same time.
 */
async function buildIndex(runtime: VectorsyncRuntime, db: PgDatabase): Promise<void> {
  const applier = new Applier(runtime, silentLogger);
  let last = '';
  let applied = 0;
  const inFlight = new Set<Promise<void>>();
  for (;;) {
    const page = await db.query<{ id: string; tenant: string }>(
      'SELECT article_id AS id, tenant_id AS tenant FROM products WHERE article_id > $1 ORDER BY article_id LIMIT 2000',
      [last],
    );
    if (page.rows.length === 0) break;
    last = page.rows.at(-1)!.id;
    const events: ChangeEvent[] = page.rows.map((row) => ({
      eventId: row.id,
      collection: 'products',
      tenant: row.tenant,
      sourceId: row.id,
      op: 'upsert',
      sourceVersion: null,
    }));
    const batch = applier.apply(events).then(({ stats }) => {
      if (stats.failed > 0) throw new Error(`${stats.failed} rows failed to index`);
      applied += stats.upserts;
      if (applied % 100_000 < 2000) process.stdout.write(`  indexed ${applied}/${ROWS}\n`);
    });
    inFlight.add(batch);
    void batch.finally(() => inFlight.delete(batch)).catch(() => undefined);
    if (inFlight.size >= 2) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

function measure(url: string, mode: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const script = fileURLToPath(new URL('./reconcile-bench-run.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', script, url, mode, ...(PAGE_SIZE ? [String(PAGE_SIZE)] : [])],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, LOG_LEVEL: 'warn' },
      },
    );
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('exit', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0) reject(new Error(`${mode} run failed (${code}): ${out}`));
      else resolve(JSON.parse(line) as RunResult);
    });
  });
}

/** 0.1% drift by default: 40% missing records, 30% stale (source changed, capture off), 30% orphans. */
async function injectDrift(db: PgDatabase, location: string, count: number) {
  const ids = await db.query<{ id: string }>(
    `SELECT article_id AS id FROM products ORDER BY md5(article_id) LIMIT $1`,
    [count],
  );
  const all = ids.rows.map((row) => row.id);
  const missing = all.slice(0, Math.round(count * 0.4));
  const stale = all.slice(missing.length, missing.length + Math.round(count * 0.3));
  const orphaned = all.slice(missing.length + stale.length);
  await db.query(`DELETE FROM vectorsync."${location}" WHERE id = ANY($1)`, [missing]);
  await db.transaction(async (tx) => {
    // No trigger fires: no outbox event, no version trigger, no foreign-key cascade (superuser).
    await tx.query('SET LOCAL session_replication_role = replica');
    await tx.query(
      `UPDATE products SET name = name || ' (renamed)', version = version + $2 WHERE article_id = ANY($1)`,
      [stale, ROWS * 10],
    );
    await tx.query('DELETE FROM products WHERE article_id = ANY($1)', [orphaned]);
  });
  return { missing: missing.length, stale: stale.length, orphaned: orphaned.length };
}

async function main() {
  console.log(`vectorsync reconcile benchmark — ${ROWS} rows — ${machineDescription()}\n`);
  const env = REUSE
    ? {
        url: REUSE,
        db: PgDatabase.fromUrl(REUSE, { max: 16, applicationName: 'vectorsync-bench' }),
        close: async () => undefined,
      }
    : await benchDatabase('reconcile');
  let keep = false;
  try {
    let copySeconds = 0;
    let indexSeconds = 0;
    if (!REUSE) await env.db.query(demoProductsTableSql);
    const runtime = await VectorsyncRuntime.open({
      config: benchConfig(env.url),
      db: env.db,
      skipMigrationCheck: true,
    });
    const fresh = !REUSE;
    if (fresh) {
      await setupCollections(runtime);
      const location = runtime.activeTarget('products').record.location;
      await env.db.query(`DROP INDEX vectorsync."${location}_hnsw"`);
      let started = performance.now();
      await env.db.query('ALTER TABLE products DISABLE TRIGGER USER');
      await copySource(env.url, ROWS);
      await env.db.query('ALTER TABLE products ENABLE TRIGGER USER');
      await env.db.query(`SELECT setval('vectorsync.row_version', $1)`, [ROWS * 100]);
      await env.db.query('VACUUM ANALYZE products');
      copySeconds = (performance.now() - started) / 1000;
      console.log(`source: ${ROWS} rows by COPY in ${copySeconds.toFixed(1)} s`);
      started = performance.now();
      await buildIndex(runtime, env.db);
      await env.db.query(`VACUUM ANALYZE vectorsync."${location}"`);
      indexSeconds = (performance.now() - started) / 1000;
      console.log(`index: ${ROWS} records through the Applier in ${indexSeconds.toFixed(1)} s`);
    } else console.log(`reusing ${REUSE}`);
    await runtime.refreshIndexes();
    const location = runtime.activeTarget('products').record.location;
    await runtime.close();
    keep = KEEP;

    LOAD_AT_START = loadavg()[0]!.toFixed(1);
    const results: Array<RunResult & { stage: string }> = [];
    const run = async (stage: string, mode: string) => {
      const result = { stage, ...(await measure(env.url, mode)) };
      console.log(
        `${stage}: ${result.seconds.toFixed(2)} s, peak RSS ${result.peakRssMb.toFixed(0)} MB${result.timings ? ` ${JSON.stringify(result.timings)}` : ''}`,
      );
      results.push(result);
      return result;
    };
    const inSync = await run('in-sync check (fast path)', 'report');
    if (!inSync.inSync) throw new Error(`the freshly built index is not in sync: ${JSON.stringify(inSync)}`);
    await run('in-sync check, naive ids (article)', 'naive-ids');
    await run('in-sync check, naive ids+version+hash', 'naive-full');

    const driftCount = Math.max(3, Math.round(ROWS * DRIFT));
    const injected = await injectDrift(env.db, location, driftCount);
    console.log(`injected drift: ${JSON.stringify(injected)}`);
    const found = await run(`find ${(DRIFT * 100).toFixed(1)}% drift (report)`, 'report');
    await run(`find ${(DRIFT * 100).toFixed(1)}% drift, naive ids (article)`, 'naive-ids');
    await run(`find ${(DRIFT * 100).toFixed(1)}% drift, naive ids+version+hash`, 'naive-full');
    const fixed = await run(`find and fix ${(DRIFT * 100).toFixed(1)}% drift`, 'fix');
    const verified = await run('verify after fix', 'report');
    const exact =
      found.missing === injected.missing &&
      found.stale === injected.stale &&
      found.orphaned === injected.orphaned;
    if (!exact) throw new Error(`found ${JSON.stringify(found)} but injected ${JSON.stringify(injected)}`);
    if (!verified.inSync || fixed.repaired !== driftCount)
      throw new Error(`fix did not converge: ${JSON.stringify({ fixed, verified })}`);

    const rows = results.map((r) => ({
      stage: r.stage,
      seconds: r.seconds.toFixed(2),
      'peak RSS MB': r.peakRssMb.toFixed(0),
      'missing / orphaned / stale found': `${r.missing} / ${r.orphaned} / ${r.stale ?? 'cannot tell'}`,
      'rows compared one by one': r.rowsCompared ?? 'all',
      repaired: r.repaired ?? '',
      'targets (≤ 20 s, ≤ 256 MB)': r.stage.startsWith('in-sync check (fast')
        ? r.seconds <= 20 && r.peakRssMb <= 256
          ? 'met'
          : 'missed'
        : '',
    }));
    printTable(rows);
    const markdown = `# Reconciliation benchmark (pgvector)

Measured by \`npm run bench:reconcile${ROWS === 1_000_000 ? '' : ` -- --rows=${ROWS}`}\` on ${new Date().toISOString().slice(0, 10)}: ${machineDescription()}.
${ROWS === 1_000_000 ? '' : `\n**Reduced scale (${ROWS} rows), for validation; the targets are stated for 1,000,000 rows.**\n`}
Load average (1 min) when the measurements started: ${LOAD_AT_START} on ${cpus().length} cores${Number(LOAD_AT_START) > cpus().length / 2 ? ' (other work shared the CPU: times are pessimistic)' : ''}.

Data: ${ROWS} source rows (the demo \`products\` table, 10 tenants) written by \`COPY … FROM STDIN\` with the
capture triggers off (${copySeconds.toFixed(0)} s); the index (pgvector, hash embedder, ${BENCH_DIMENSIONS}-d) built through
the Applier, the path every sync mode uses (${indexSeconds.toFixed(0)} s), with its HNSW index dropped
first (reconciliation never reads it). Each measured run is its own process (\`bench/reconcile-bench-run.ts\`),
so its peak RSS is its own, including Node, tsx and the runtime (about 100 MB before any work).
Drift: ${driftCount} rows (${(DRIFT * 100).toFixed(1)}%): ${injected.missing} index records deleted,
${injected.stale} source rows changed and ${injected.orphaned} deleted with every trigger off (no outbox event,
no foreign-key cascade).

${markdownTable(rows)}

- **Fast path**: the source is streamed in primary-key order (keyset pages of 5,000, only the key,
  tenant, version and template columns), content hashes computed without embedding, folded into
  65,536 bucket-group checksums; the store computes its own in one aggregate query at the same
  time. Only differing groups are compared row by row (Postgres filters the source to those
  groups; the index is read by bucket range).
- **Naive, ids**: the context article's set comparison: all ids of both sides in memory. It cannot
  see stale records at all.
- **Naive, ids+version+hash**: the same with what finding stale records needs, the fair comparison.
`;
    await writeReport('reconcile', markdown, {
      machine: machineDescription(),
      date: new Date().toISOString(),
      rows: ROWS,
      drift: DRIFT,
      injected,
      copySeconds,
      indexSeconds,
      results,
    });
  } finally {
    if (keep && !REUSE)
      console.log(`\nkept the database: npm run bench:reconcile -- --rows=${ROWS} --reuse=${env.url}`);
    else await env.close();
    if (REUSE) await env.db.close();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
