/**
 * One measured reconciliation for bench/reconcile-bench.ts, in its own process so that its
 * peak RSS is its own: `tsx bench/reconcile-bench-run.ts <database-url> <mode>` where mode is
 * report | fix | naive-ids | naive-full. Prints one JSON line: seconds, peak RSS and findings.
 */
import { parseConfig } from '../src/config/resolve-config.js';
import { PgDatabase } from '../src/db/pg-database.js';
import { demoConfig } from '../src/demo/demo-schema.js';
import { buildDocumentIdentity } from '../src/pipeline/document-builder.js';
import { toSourceRow } from '../src/pipeline/source-reader.js';
import { reconcileCollection } from '../src/reconcile/reconcile-collection.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';

export const BENCH_DIMENSIONS = 64;

export function benchConfig(url: string) {
  return parseConfig({ ...demoConfig({ dimensions: BENCH_DIMENSIONS }), databaseUrl: url });
}

export interface RunResult {
  mode: string;
  seconds: number;
  peakRssMb: number;
  missing: number;
  orphaned: number;
  stale: number | null;
  sourceRows: number;
  indexRecords: number;
  differingGroups: number | null;
  rowsCompared: number | null;
  repaired: number | null;
  inSync: boolean;
  timings?: { sourceMs: number; indexChecksumsMs: number; diffMs: number; repairMs: number };
}

async function main(): Promise<void> {
  const [url, mode, pageSize] = process.argv.slice(2);
  if (!url || !mode)
    throw new Error('usage: reconcile-bench-run.ts <database-url> <report|fix|naive-ids|naive-full>');
  const db = PgDatabase.fromUrl(url, { max: 4, applicationName: `bench-reconcile-${mode}` });
  const runtime = await VectorsyncRuntime.open({ config: benchConfig(url), db });
  try {
    const started = performance.now();
    let result: Omit<RunResult, 'seconds' | 'peakRssMb' | 'mode'>;
    if (mode === 'report' || mode === 'fix') {
      const report = await reconcileCollection(runtime, {
        collection: 'products',
        mode,
        trigger: 'library',
        ...(pageSize ? { settings: { pageSize: Number(pageSize) } } : {}),
      });
      if (report.status !== 'completed') throw new Error(`run ${report.status}: ${report.error?.message}`);
      result = {
        missing: report.counts.missing,
        orphaned: report.counts.orphaned,
        stale: report.counts.stale,
        sourceRows: report.sourceRows,
        indexRecords: report.indexRecords,
        differingGroups: report.fastPath.differingGroups,
        rowsCompared: report.fastPath.rowsCompared,
        repaired: report.repair?.repaired ?? null,
        inSync: report.inSync,
        timings: report.timings,
      };
    } else if (mode === 'naive-ids' || mode === 'naive-full') {
      result = await naive(runtime, mode === 'naive-full');
    } else throw new Error(`unknown mode ${mode}`);
    const seconds = (performance.now() - started) / 1000;
    const peakRssMb = process.resourceUsage().maxRSS / 1024;
    process.stdout.write(`${JSON.stringify({ mode, seconds, peakRssMb, ...result } satisfies RunResult)}\n`);
  } finally {
    await runtime.close();
    await db.close();
  }
}

/**
 * The naive set comparison of the context article: every id of both sides in memory, then set
 * differences. `full` also keeps (tenant, version, content hash) per id on both sides, which it
 * needs to find stale records at all.
 */
async function naive(runtime: VectorsyncRuntime, full: boolean) {
  const collection = runtime.collection('products');
  const { definition, embedder } = collection;
  const location = runtime.activeTarget('products').record.location;
  const sourceQuery = full
    ? `SELECT article_id AS "__id", tenant_id AS "__tenant", version::text AS "__version", ${definition.template.fields.map((f) => `"${f}"`).join(', ')} FROM products`
    : 'SELECT article_id AS "__id" FROM products';
  const source = await runtime.db.query<Record<string, unknown>>(sourceQuery);
  const index = await runtime.db.query<{ id: string; tenant: string; version: string; content_hash: string }>(
    full
      ? `SELECT id, tenant, version::text AS version, content_hash FROM vectorsync."${location}"`
      : `SELECT id FROM vectorsync."${location}"`,
  );
  const expected = new Map<string, string>();
  for (const raw of source.rows) {
    if (!full) expected.set(String(raw.__id), '');
    else {
      const identity = buildDocumentIdentity(definition, toSourceRow(raw), embedder);
      expected.set(identity.id, `${identity.tenant}:${identity.version}:${identity.contentHash}`);
    }
  }
  const actual = new Map<string, string>();
  for (const row of index.rows)
    actual.set(row.id, full ? `${row.tenant}:${row.version}:${row.content_hash}` : '');
  let missing = 0;
  let stale = 0;
  for (const [id, value] of expected) {
    const held = actual.get(id);
    if (held === undefined) missing++;
    else if (held !== value) stale++;
  }
  let orphaned = 0;
  for (const id of actual.keys()) if (!expected.has(id)) orphaned++;
  return {
    missing,
    orphaned,
    stale: full ? stale : null,
    sourceRows: source.rows.length,
    indexRecords: index.rows.length,
    differingGroups: null,
    rowsCompared: null,
    repaired: null,
    inSync: missing === 0 && orphaned === 0 && (!full || stale === 0),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
