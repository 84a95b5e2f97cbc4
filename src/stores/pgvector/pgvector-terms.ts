import type { SqlExecutor } from '../../db/database.js';
import { ErrorCode, VectorsyncError } from '../../errors.js';
import { bm25Names } from './pgvector-bm25.js';

/**
 * The per-index term dictionary (text → int id). Ids never change once assigned, so a
 * process-wide cache is always right; new terms are inserted in their own short statement,
 * in sorted order, so concurrent writers never deadlock on the dictionary's unique index.
 */
export class TermDictionary {
  private readonly ids = new Map<string, Map<string, number>>();

  constructor(private readonly maxTermsPerIndex = 500_000) {}

  async resolve(db: SqlExecutor, location: string, terms: Iterable<string>): Promise<Map<string, number>> {
    let cache = this.ids.get(location);
    if (!cache) {
      cache = new Map();
      this.ids.set(location, cache);
    }
    const wanted = [...new Set(terms)];
    const found = new Map<string, number>();
    const missing: string[] = [];
    for (const term of wanted) {
      const id = cache.get(term);
      if (id === undefined) missing.push(term);
      else found.set(term, id);
    }
    missing.sort();
    if (missing.length > 0) {
      const names = bm25Names(location);
      const result = await db.query<{ id: number; term: string }>(
        `WITH input AS (SELECT DISTINCT unnest($1::text[]) AS term),
              added AS (
                INSERT INTO ${names.terms} (term) SELECT term FROM input ORDER BY term
                ON CONFLICT (term) DO NOTHING RETURNING id, term)
         SELECT id, term FROM added
         UNION ALL
         SELECT t.id, t.term FROM ${names.terms} t JOIN input USING (term)`,
        [missing],
      );
      const rows = [...result.rows];
      const resolved = new Set(rows.map((row) => row.term));
      const unresolved = missing.filter((term) => !resolved.has(term));
      if (unresolved.length > 0) {
        // A concurrent writer inserted these while our statement ran: the INSERT waited for it
        // and skipped them (DO NOTHING), but the statement's snapshot predates its commit. A
        // new statement sees them.
        const again = await db.query<{ id: number; term: string }>(
          `SELECT id, term FROM ${names.terms} WHERE term = ANY($1::text[])`,
          [unresolved],
        );
        rows.push(...again.rows);
      }
      if (cache.size + rows.length > this.maxTermsPerIndex) cache.clear();
      for (const row of rows) {
        cache.set(row.term, row.id);
        found.set(row.term, row.id);
      }
    }
    const lost = wanted.filter((term) => !found.has(term));
    if (lost.length > 0) {
      throw new VectorsyncError(
        ErrorCode.StoreFailed,
        `BM25 term dictionary of ${location} has no id for ${lost.length} term(s), e.g. "${lost[0]}"`,
        { details: { location, terms: lost.slice(0, 10) }, transient: true },
      );
    }
    return found;
  }

  forget(location: string): void {
    this.ids.delete(location);
  }
}
