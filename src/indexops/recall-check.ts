import { quoteIdent } from '../db/sql-identifier.js';
import type { AnnIndexTable, IndexOpsSupport } from '../stores/index-ops-support.js';

export interface RecallResult {
  /** Mean over queries of |approximate top-k ∩ exact top-k| / |exact top-k|. */
  recall: number;
  k: number;
  queries: number;
  /** How many queries each plan served (an index name, or "exact" for plans without one). */
  servedBy: Record<string, number>;
}

/** A query of a recall check: searched in the tenant, like production searches. */
export interface RecallQuery {
  tenant: string;
  vector: number[];
}

/**
 * recall@k of the searches production runs (same SQL shape, same session settings: ef_search,
 * iterative scans, probes) against exact search on the same rows. EXPLAIN records which index
 * the planner used for every query, so a caller can tell that the index it means to verify is
 * the one that answered.
 */
export async function measureRecall(input: {
  support: IndexOpsSupport;
  table: AnnIndexTable;
  queries: readonly RecallQuery[];
  k?: number;
}): Promise<RecallResult> {
  const { support, table } = input;
  const k = input.k ?? 10;
  const servedBy: Record<string, number> = {};
  let total = 0;
  let counted = 0;
  const sql = `SELECT ${quoteIdent(table.idColumn)}::text AS id FROM ${table.qualified}
                WHERE ${quoteIdent(table.tenantColumn)} = $2
                ORDER BY ${quoteIdent(table.vectorColumn)} ${support.distanceOperator} $1::${table.vectorType} LIMIT $3`;
  for (const query of input.queries) {
    const values = [`[${query.vector.join(',')}]`, query.tenant, k];
    const approximate = await support.db.transaction(async (tx) => {
      const settings = support.searchSettings();
      await tx.query(
        `SELECT ${settings.map((_, i) => `set_config($${2 * i + 1}, $${2 * i + 2}, true)`).join(', ')}`,
        settings.flat(),
      );
      const plan = await tx.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${sql}`, values);
      const index = indexUsed(plan.rows[0]?.['QUERY PLAN']) ?? 'exact';
      servedBy[index] = (servedBy[index] ?? 0) + 1;
      return (await tx.query<{ id: string }>(sql, values)).rows.map((row) => row.id);
    });
    const exact = await support.db.transaction(async (tx) => {
      // No index scan at all: the rows come from a scan of the table (or the tenant index) and a sort.
      await tx.query(`SELECT set_config('enable_indexscan', 'off', true)`);
      return (await tx.query<{ id: string }>(sql, values)).rows.map((row) => row.id);
    });
    if (exact.length === 0) continue;
    const found = new Set(approximate);
    total += exact.filter((id) => found.has(id)).length / exact.length;
    counted++;
  }
  return { recall: counted > 0 ? total / counted : 1, k, queries: counted, servedBy };
}

/**
 * Queries near rows sampled from the table now: each a row's vector plus noise of half its
 * norm, so the row itself is not simply found. Seeded, so a comparison reuses the same ones.
 */
export async function sampleRecallQueries(input: {
  support: IndexOpsSupport;
  table: AnnIndexTable;
  tenant: string | null;
  queries: number;
  rows: number;
  seed?: number;
}): Promise<RecallQuery[]> {
  const { table } = input;
  const percent = Math.min(100, (100 * input.queries * 3) / Math.max(1, input.rows) + 0.01);
  const where = input.tenant === null ? '' : `WHERE ${quoteIdent(table.tenantColumn)} = $2`;
  const result = await input.support.db.query<{ tenant: string; vector: string }>(
    `SELECT ${quoteIdent(table.tenantColumn)} AS tenant, ${quoteIdent(table.vectorColumn)}::text AS vector
       FROM ${table.qualified} TABLESAMPLE BERNOULLI (${percent}) REPEATABLE (7) ${where}
      LIMIT $1`,
    input.tenant === null ? [input.queries] : [input.queries, input.tenant],
  );
  const random = mulberry32(input.seed ?? 42);
  return result.rows.map((row) => ({
    tenant: row.tenant,
    vector: perturb(JSON.parse(row.vector) as number[], random),
  }));
}

function perturb(vector: number[], random: () => number): number[] {
  const norm = Math.hypot(...vector) || 1;
  const noise = vector.map(() => gaussian(random));
  const noiseNorm = Math.hypot(...noise) || 1;
  return vector.map((value, i) => value + (0.5 * norm * noise[i]!) / noiseNorm);
}

function gaussian(random: () => number): number {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** A small seeded PRNG: the same queries on both sides of a comparison. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The ANN index (an index scan ordered by distance) in an EXPLAIN (FORMAT JSON) plan. */
export function indexUsed(plan: unknown): string | undefined {
  const visit = (node: unknown): string | undefined => {
    if (!node || typeof node !== 'object') return undefined;
    const record = node as Record<string, unknown>;
    if (
      typeof record['Index Name'] === 'string' &&
      record['Node Type'] === 'Index Scan' &&
      record['Order By']
    )
      return record['Index Name'];
    for (const value of Object.values(record)) {
      const found = Array.isArray(value) ? value.map(visit).find(Boolean) : visit(value);
      if (found) return found;
    }
    return undefined;
  };
  return visit(plan);
}
