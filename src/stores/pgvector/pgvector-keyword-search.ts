import type { SqlExecutor } from '../../db/database.js';
import type { FilterNode } from '../../search/filter.js';
import type { Bm25Params, IndexSpec, KeywordSearchRequest, SearchHit } from '../vector-store.js';
import { bm25Names } from './pgvector-bm25.js';
import { compileFilter } from './pgvector-filter.js';

interface QueryTerm {
  termId: number;
  /** qtf · idf: the term's weight in every document's score. */
  weight: number;
}

/** Okapi BM25's per-term document factor, tf·(k1+1) / (tf + k1·(1 − b + b·dl/avgdl)). */
export function bm25TermFactor(tf: number, docLength: number, avgdl: number, { k1, b }: Bm25Params): number {
  return (tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * docLength) / avgdl));
}

/** idf = ln(1 + (N − df + 0.5) / (df + 0.5)), always positive. */
export function bm25Idf(documents: number, df: number): number {
  return Math.log(1 + (documents - df + 0.5) / (df + 0.5));
}

const FIRST_DEPTH = 64;
const MAX_DEPTH = 16_384;

/**
 * Exact BM25 top-k over the postings, usually without reading most of them. Postings are
 * indexed by impact (pgvector-bm25.ts), so the first M postings of a term are its M best.
 * Candidates from every term's first M postings are scored exactly from their own term arrays;
 * any other document scores at most Σ weight · impact(M-th posting) · max(1, A/A₀). Once the
 * k-th best candidate reaches that bound no other document can beat it; otherwise M quadruples.
 * Filtered queries, queries with other k1/b than the index was built with, and queries whose
 * bound never closes fall back to scoring every posting, which is exact too.
 */
export async function pgvectorKeywordSearch(
  db: SqlExecutor,
  spec: IndexSpec,
  idType: string,
  request: KeywordSearchRequest,
): Promise<SearchHit[]> {
  const names = bm25Names(spec.location);
  const info = await db.query<{
    term_id: number;
    qtf: number;
    df: number;
    docs: number;
    total_len: number;
    reference: number | null;
  }>(
    `WITH q AS (
       SELECT d.id AS term_id, x.qtf FROM unnest($1::text[], $2::int[]) AS x(term, qtf) JOIN ${names.terms} d ON d.term = x.term
     ), st AS (
       SELECT coalesce(sum(docs), 0)::float8 AS docs, coalesce(sum(total_len), 0)::float8 AS total_len FROM ${names.stats} WHERE tenant = $3
     )
     SELECT q.term_id, q.qtf, st.docs, st.total_len,
            (SELECT coalesce(sum(delta), 0) FROM ${names.df} d WHERE d.tenant = $3 AND d.term_id = q.term_id)::int AS df,
            (SELECT avgdl FROM ${names.impactReference} WHERE tenant = $3) AS reference
       FROM q CROSS JOIN st`,
    [request.terms.map((term) => term.term), request.terms.map((term) => term.frequency), request.tenant],
  );
  const first = info.rows[0];
  if (!first || first.docs <= 0) return [];
  const avgdl = first.total_len / first.docs;
  const terms: QueryTerm[] = info.rows
    .filter((row) => row.df > 0)
    .map((row) => ({ termId: row.term_id, weight: row.qtf * bm25Idf(first.docs, row.df) }));
  if (terms.length === 0) return [];
  const factor = (tf: number, length: number) => bm25TermFactor(tf, length, avgdl, request.bm25);

  const built = spec.params.bm25 as { k1?: number; b?: number } | undefined;
  const sameParameters = built?.k1 === request.bm25.k1 && built?.b === request.bm25.b;
  if (request.filter || !sameParameters || first.reference === null)
    return scoreAllPostings(db, spec, request, terms, avgdl, request.filter);
  // Impacts were computed with the reference length A₀; with today's A they grow by at most A/A₀.
  const drift = Math.max(1, avgdl / first.reference);

  const exact = new Map<string, number>();
  for (let depth = Math.max(FIRST_DEPTH, request.k * 4); depth <= MAX_DEPTH; depth *= 4) {
    const postings = await db.query<{ term_id: number; doc_id: string; impact: number }>(
      `SELECT t.term_id, p.doc_id::text AS doc_id, p.impact
         FROM unnest($1::int[]) AS t(term_id)
         CROSS JOIN LATERAL (
           SELECT doc_id, impact FROM ${names.postings} p
            WHERE p.term_id = t.term_id AND p.tenant = $2
            ORDER BY p.impact DESC, p.doc_id LIMIT $3) AS p`,
      [terms.map((term) => term.termId), request.tenant, depth],
    );
    const lists = new Map<number, number[]>();
    for (const row of postings.rows) {
      const list = lists.get(row.term_id) ?? [];
      list.push(row.impact);
      lists.set(row.term_id, list);
    }
    const unscored = [...new Set(postings.rows.map((row) => row.doc_id))].filter((id) => !exact.has(id));
    await scoreDocuments(db, names.table, idType, unscored, terms, factor, exact);

    let bound = 0;
    let exhausted = true;
    for (const term of terms) {
      const list = lists.get(term.termId) ?? [];
      if (list.length < depth) continue;
      exhausted = false;
      // float4 storage: allow for its rounding on top of the drift.
      bound += term.weight * list[list.length - 1]! * drift * (1 + 1e-6);
    }
    const ranked = rank(exact);
    const kth = ranked[request.k - 1]?.score;
    if (exhausted || (kth !== undefined && kth >= bound))
      return withPayloads(db, names.table, idType, ranked.slice(0, request.k));
  }
  return scoreAllPostings(db, spec, request, terms, avgdl, undefined);
}

/** Exact scores from the documents' own term arrays (one index lookup per document). */
async function scoreDocuments(
  db: SqlExecutor,
  table: string,
  idType: string,
  ids: string[],
  terms: QueryTerm[],
  factor: (tf: number, length: number) => number,
  scores: Map<string, number>,
): Promise<void> {
  if (ids.length === 0) return;
  const rows = await db.query<{ id: string; bm25_terms: number[]; bm25_tfs: number[]; bm25_len: number }>(
    `SELECT id::text AS id, bm25_terms, bm25_tfs, bm25_len FROM ${table} WHERE id = ANY($1::${idType}[])`,
    [ids],
  );
  for (const row of rows.rows) {
    let score = 0;
    for (const term of terms) {
      const position = row.bm25_terms.indexOf(term.termId);
      if (position >= 0) score += term.weight * factor(row.bm25_tfs[position]!, row.bm25_len);
    }
    scores.set(row.id, score);
  }
}

function rank(scores: Map<string, number>): Array<{ id: string; score: number }> {
  return [...scores]
    .map(([id, score]) => ({ id, score }))
    .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

async function withPayloads(
  db: SqlExecutor,
  table: string,
  idType: string,
  top: Array<{ id: string; score: number }>,
): Promise<SearchHit[]> {
  if (top.length === 0) return [];
  const rows = await db.query<{ id: string; version: string; payload: Record<string, unknown> }>(
    `SELECT id::text AS id, version::text AS version, payload FROM ${table} WHERE id = ANY($1::${idType}[])`,
    [top.map((hit) => hit.id)],
  );
  const byId = new Map(rows.rows.map((row) => [row.id, row]));
  return top
    .filter((hit) => byId.has(hit.id))
    .map((hit) => ({
      id: hit.id,
      score: hit.score,
      version: Number(byId.get(hit.id)!.version),
      payload: byId.get(hit.id)!.payload,
    }));
}

/** Scores every posting of the query terms; with a filter, joined to the filtered documents. */
async function scoreAllPostings(
  db: SqlExecutor,
  spec: IndexSpec,
  request: KeywordSearchRequest,
  terms: QueryTerm[],
  avgdl: number,
  filter: FilterNode | undefined,
): Promise<SearchHit[]> {
  const names = bm25Names(spec.location);
  const params: unknown[] = [
    terms.map((term) => term.termId),
    terms.map((term) => term.weight),
    request.tenant,
    request.bm25.k1,
    request.bm25.b,
    avgdl,
    request.k,
  ];
  const where = filter ? `WHERE ${compileFilter(filter, 'i', params)}` : '';
  const result = await db.query<{
    id: string;
    version: string;
    payload: Record<string, unknown>;
    score: number;
  }>(
    `WITH q AS (SELECT * FROM unnest($1::int[], $2::float8[]) AS q(term_id, weight)),
          scored AS (
            SELECT p.doc_id, sum(q.weight * (p.tf * ($4::float8 + 1)) / (p.tf + $4::float8 * (1 - $5::float8 + $5::float8 * p.doc_len / $6::float8))) AS score
              FROM ${names.postings} p JOIN q USING (term_id)
             WHERE p.tenant = $3
             GROUP BY p.doc_id)
     SELECT i.id::text AS id, i.version::text AS version, i.payload, s.score
       FROM scored s JOIN ${names.table} i ON i.id = s.doc_id ${where}
      ORDER BY s.score DESC, i.id::text
      LIMIT $7`,
    params,
  );
  return result.rows.map((row) => ({
    id: row.id,
    score: Number(row.score),
    version: Number(row.version),
    payload: row.payload,
  }));
}
