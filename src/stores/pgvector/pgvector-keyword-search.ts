import type { SqlExecutor } from '../../db/database.js';
import type { Bm25Params, IndexSpec, KeywordSearchRequest, SearchHit } from '../vector-store.js';
import { bm25Names } from './pgvector-bm25.js';
import { compileFilter } from './pgvector-filter.js';

/** idf = ln(1 + (N − df + 0.5) / (df + 0.5)), always positive. */
export function bm25Idf(documents: number, df: number): number {
  return Math.log(1 + (documents - df + 0.5) / (df + 0.5));
}

/** Bytes per packed posting: ordinal int8, tf int4, length int4 (network byte order). */
const POSTING_BYTES = 16;

/**
 * Exact BM25 over every posting of the query terms. Postgres reads each term's postings with
 * one index-only range scan and packs them into a bytea (16 bytes a posting) in the same
 * query; the scoring happens here over typed data, which is several times faster than
 * aggregating per document in SQL. Document frequency is the number of postings read, so it is
 * exact by construction; N and the average length come from the trigger-maintained statistics.
 * The top k (or, with a filter, the best documents that pass it) are then mapped back to ids.
 */
export async function pgvectorKeywordSearch(
  db: SqlExecutor,
  spec: IndexSpec,
  request: KeywordSearchRequest,
): Promise<SearchHit[]> {
  const names = bm25Names(spec.location);
  const result = await db.query<{
    qtf: number | null;
    postings: Uint8Array | null;
    docs: number;
    total_len: number;
  }>(
    `WITH q AS (
       SELECT d.id AS term_id, x.qtf FROM unnest($1::text[], $2::int[]) AS x(term, qtf) JOIN ${names.terms} d ON d.term = x.term
     ), st AS (
       SELECT coalesce(sum(docs), 0)::float8 AS docs, coalesce(sum(total_len), 0)::float8 AS total_len FROM ${names.stats} WHERE tenant = $3
     )
     SELECT q.qtf, st.docs, st.total_len,
            (SELECT string_agg(int8send(p.ord) || int4send(p.tf) || int4send(p.len), ''::bytea)
               FROM ${names.postings} p WHERE p.term_id = q.term_id AND p.tenant = $3) AS postings
       FROM st LEFT JOIN q ON true`,
    [request.terms.map((term) => term.term), request.terms.map((term) => term.frequency), request.tenant],
  );
  const stats = result.rows[0];
  if (!stats || stats.docs <= 0) return [];
  const documents = stats.docs;
  const avgdl = stats.total_len / documents;
  const lists = result.rows.filter(
    (row): row is typeof row & { qtf: number; postings: Uint8Array } =>
      row.qtf !== null && row.postings !== null,
  );
  if (lists.length === 0) return [];
  const scores = accumulate(lists, documents, avgdl, request.bm25);
  const ranked = scores.top(request.filter ? Number.POSITIVE_INFINITY : request.k);
  // Equal scores are ordered by id, like every other ranking, so the whole group tied at the
  // cut-off is fetched before cutting.
  if (!request.filter) return (await hydrate(db, names, ranked, undefined)).slice(0, request.k);
  // With a filter: walk the ranking in growing chunks until k documents pass it.
  // Chunks end on a tie-group boundary, so sorting what passed gives the same order.
  const hits: SearchHit[] = [];
  for (
    let start = 0, size = Math.max(64, request.k * 4);
    start < ranked.length && hits.length < request.k;
    size *= 2
  ) {
    const end = start + withTies(ranked.slice(start), size);
    hits.push(...(await hydrate(db, names, ranked.slice(start, end), request.filter)));
    start = end;
  }
  return hits.sort(byScoreThenId).slice(0, request.k);
}

function byScoreThenId(a: SearchHit, b: SearchHit): number {
  return b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

interface ScoreTable {
  /** The n best as [ordinal, score], score descending, plus any further ones tied with the n-th. */
  top(n: number): Array<[number, number]>;
}

/**
 * Sums every posting's weighted factor qtf·idf · tf·(k1+1) / (tf + k1·(1 − b + b·dl/avgdl)) per
 * document. When the ordinals are dense enough (bulk loads, few re-indexes) a Float64Array indexed by ordinal
 * does the summing, otherwise a Map.
 */
function accumulate(
  lists: Array<{ qtf: number; postings: Uint8Array }>,
  documents: number,
  avgdl: number,
  { k1, b }: Bm25Params,
): ScoreTable {
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  let total = 0;
  const views = lists.map(({ qtf, postings }) => {
    const view = new DataView(postings.buffer, postings.byteOffset, postings.byteLength);
    const count = postings.byteLength / POSTING_BYTES;
    total += count;
    for (let offset = 0; offset < postings.byteLength; offset += POSTING_BYTES) {
      const ordinal = ordinalAt(view, offset);
      if (ordinal < low) low = ordinal;
      if (ordinal > high) high = ordinal;
    }
    return { view, count, weight: qtf * bm25Idf(documents, count) };
  });
  const span = high - low + 1;
  const dense = span <= Math.max(1_000_000, total * 8) && span <= 50_000_000;
  const sums = dense ? new Float64Array(span) : undefined;
  const sparse = dense ? undefined : new Map<number, number>();
  for (const { view, count, weight } of views) {
    for (let i = 0, offset = 0; i < count; i++, offset += POSTING_BYTES) {
      const tf = view.getInt32(offset + 8);
      const contribution =
        (weight * (tf * (k1 + 1))) / (tf + k1 * (1 - b + (b * view.getInt32(offset + 12)) / avgdl));
      const ordinal = ordinalAt(view, offset);
      if (sums) sums[ordinal - low] = sums[ordinal - low]! + contribution;
      else sparse!.set(ordinal, (sparse!.get(ordinal) ?? 0) + contribution);
    }
  }
  return {
    top(n) {
      const order = (a: [number, number], c: [number, number]) => c[1] - a[1] || a[0] - c[0];
      const best: Array<[number, number]> = [];
      let floor = Number.NEGATIVE_INFINITY;
      const offer = (ordinal: number, score: number) => {
        if (score <= 0 || (best.length >= n && score < floor)) return;
        best.push([ordinal, score]);
        if (Number.isFinite(n) && best.length > n * 4 + 64) {
          best.sort(order);
          best.length = withTies(best, n);
          floor = best[n - 1]![1];
        }
      };
      if (sums) for (let i = 0; i < sums.length; i++) offer(low + i, sums[i]!);
      else for (const [ordinal, score] of sparse!) offer(ordinal, score);
      best.sort(order);
      return Number.isFinite(n) ? best.slice(0, withTies(best, n)) : best;
    },
  };
}

/** How many of the sorted `ranked` to keep so that the n-th one's ties are all kept. */
function withTies(ranked: ReadonlyArray<[number, number]>, n: number): number {
  if (ranked.length <= n || n <= 0) return Math.min(ranked.length, Math.max(n, 0));
  let end = n;
  while (end < ranked.length && ranked[end]![1] === ranked[n - 1]![1]) end++;
  return end;
}

/** Ordinals come from a sequence: far below 2^53, so a double holds them exactly. */
function ordinalAt(view: DataView, offset: number): number {
  return view.getUint32(offset) * 4294967296 + view.getUint32(offset + 4);
}

/** Ids, versions and payloads of ranked ordinals (those passing the filter), by score then id. */
async function hydrate(
  db: SqlExecutor,
  names: ReturnType<typeof bm25Names>,
  ranked: Array<[number, number]>,
  filter: KeywordSearchRequest['filter'],
): Promise<SearchHit[]> {
  if (ranked.length === 0) return [];
  const params: unknown[] = [ranked.map(([ordinal]) => String(ordinal))];
  const where = filter ? `AND ${compileFilter(filter, 'i', params)}` : '';
  const rows = await db.query<{ ord: string; id: string; version: string; payload: Record<string, unknown> }>(
    `SELECT d.ord::text AS ord, i.id::text AS id, i.version::text AS version, i.payload
       FROM ${names.documents} d JOIN ${names.table} i ON i.id = d.id
      WHERE d.ord = ANY($1::bigint[]) ${where}`,
    params,
  );
  const byOrdinal = new Map(rows.rows.map((row) => [row.ord, row]));
  const hits: SearchHit[] = [];
  for (const [ordinal, score] of ranked) {
    const row = byOrdinal.get(String(ordinal));
    if (!row) continue;
    hits.push({ id: row.id, score, version: Number(row.version), payload: row.payload });
  }
  return hits.sort(byScoreThenId);
}
