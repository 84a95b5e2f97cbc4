import { type CollectionDefinition, idExpression } from '../config/collection-definition.js';
import type { SqlExecutor } from '../db/database.js';
import { quoteIdent } from '../db/sql-identifier.js';
import type { IndexTarget, VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { type SearchMode, SearchService } from '../search/search-service.js';
import { throwIfAborted } from './fill-index.js';
import { mean, rankAgreement } from './rank-agreement.js';

export interface ShadowQuery {
  tenant: string;
  query: string;
}

export interface ModeAgreement {
  mode: SearchMode;
  queries: number;
  /** Mean overlap@k of the old and new top k. */
  overlap: number | null;
  /** Mean Kendall tau and Spearman rho over the documents both returned. */
  kendallTau: number | null;
  spearman: number | null;
  /** Queries whose top k differ most, for a human to look at. */
  worst: Array<{ tenant: string; query: string; overlap: number }>;
  /** Why the mode was not compared (a store without keyword search). */
  skipped?: string;
}

/**
 * Queries for shadow reads, generated from the corpus (vectorsync keeps no query log): a
 * deterministic sample of source rows, each giving its tenant and the first words of one of
 * its keyword fields (or its text), so every query has at least one relevant document.
 */
export async function sampleQueries(
  db: SqlExecutor,
  definition: CollectionDefinition,
  count: number,
): Promise<ShadowQuery[]> {
  // The source table's own columns: a relation field's words are in the documents all the same.
  const ownKeywords = definition.keywordFields.filter((field) => definition.readColumns.includes(field));
  const fields = ownKeywords.length > 0 ? ownKeywords : definition.readColumns;
  const columns = fields.map((field) => `s.${quoteIdent(field)}::text`).join(', ');
  const result = await db.query<{ tenant: string | null; texts: Array<string | null> }>(
    `SELECT s.${quoteIdent(definition.tenantColumn.name)}::text AS tenant, ARRAY[${columns}] AS texts
       FROM ${definition.tableSql} s
      ORDER BY md5(${idExpression(definition, 's')} || 'shadow') LIMIT $1`,
    [count],
  );
  const queries: ShadowQuery[] = [];
  result.rows.forEach((row, index) => {
    const texts = row.texts.filter((text): text is string => !!text && /\p{L}/u.test(text));
    if (!row.tenant || texts.length === 0) return;
    const words = texts[index % texts.length]!.split(/\s+/).filter(Boolean);
    queries.push({ tenant: row.tenant, query: words.slice(0, 1 + (index % 3)).join(' ') });
  });
  return queries;
}

/** Runs every query in each mode on both indexes and reports how far their rankings agree. */
export async function shadowReads(
  runtime: VectorsyncRuntime,
  options: {
    collection: string;
    from: IndexTarget;
    to: IndexTarget;
    queries: ShadowQuery[];
    k?: number;
    signal?: AbortSignal;
    onProgress?: (done: number, total: number) => void;
  },
): Promise<ModeAgreement[]> {
  const k = options.k ?? 10;
  const search = new SearchService(runtime);
  const modes: SearchMode[] = ['semantic', 'keyword', 'hybrid'];
  const reports: ModeAgreement[] = [];
  let done = 0;
  const total = modes.length * options.queries.length;
  for (const mode of modes) {
    const lacking = [options.from, options.to].find(
      (target) => mode !== 'semantic' && !(target.store.capabilities.keyword && target.store.keywordSearch),
    );
    if (lacking) {
      reports.push(emptyReport(mode, `store "${lacking.storeName}" has no keyword search`));
      done += options.queries.length;
      continue;
    }
    const overlaps: number[] = [];
    const taus: number[] = [];
    const rhos: number[] = [];
    const perQuery: Array<{ tenant: string; query: string; overlap: number }> = [];
    for (const { tenant, query } of options.queries) {
      throwIfAborted(options.signal);
      const request = { collection: options.collection, tenant, query, mode, k };
      const [before, after] = await Promise.all([
        search.search(request, { target: options.from }),
        search.search(request, { target: options.to }),
      ]);
      const agreement = rankAgreement(
        before.hits.map((hit) => hit.id),
        after.hits.map((hit) => hit.id),
        k,
      );
      overlaps.push(agreement.overlap);
      if (agreement.kendallTau !== null) taus.push(agreement.kendallTau);
      if (agreement.spearman !== null) rhos.push(agreement.spearman);
      perQuery.push({ tenant, query, overlap: agreement.overlap });
      options.onProgress?.(++done, total);
    }
    reports.push({
      mode,
      queries: options.queries.length,
      overlap: mean(overlaps),
      kendallTau: mean(taus),
      spearman: mean(rhos),
      worst: perQuery.sort((a, b) => a.overlap - b.overlap).slice(0, 3),
    });
  }
  return reports;
}

function emptyReport(mode: SearchMode, skipped: string): ModeAgreement {
  return { mode, queries: 0, overlap: null, kendallTau: null, spearman: null, worst: [], skipped };
}
