/**
 * The canonical id: a source row's primary key as one text value.
 *
 * - A single-column key: the column's text form, as it always was (`42`, `0108775015`).
 * - A composite key: each column's text form with `\` written `\\` and `,` written `\,`,
 *   joined by `,` in the order the collection's `primaryKey` lists them (`acme,42`).
 *
 * Within one collection the number of key columns is fixed, so the encoding is injective and
 * every id decodes to exactly one tuple; an id that does not decode names no row. Ids do not
 * sort like their tuples: whatever pages by key (backfills, reconciliation) orders by the
 * columns themselves.
 *
 * The same encoding exists twice, here and as SQL (canonicalIdSql), because triggers and
 * backfills compute ids inside Postgres. test/composite-key-encoding.test.ts checks that both
 * agree on hostile values.
 */

const ESCAPE = '\\';
const SEPARATOR = ',';

/** The canonical id of a key tuple (the key columns' text forms, in key order). */
export function encodeCanonicalId(parts: readonly string[]): string {
  if (parts.length === 1) return parts[0]!;
  return parts
    .map((part) => part.replaceAll(ESCAPE, ESCAPE + ESCAPE).replaceAll(SEPARATOR, ESCAPE + SEPARATOR))
    .join(SEPARATOR);
}

/**
 * The key tuple of a canonical id of `arity` columns, or undefined when the id is not one
 * (wrong number of parts, a backslash that escapes nothing). Accepts exactly the ids that
 * encodeCanonicalId produces, so decoding and re-encoding gives the same id back.
 */
export function decodeCanonicalId(id: string, arity: number): string[] | undefined {
  if (arity === 1) return [id];
  const parts: string[] = [];
  let current = '';
  for (let index = 0; index < id.length; index++) {
    const char = id[index]!;
    if (char === ESCAPE) {
      const next = id[index + 1];
      if (next !== ESCAPE && next !== SEPARATOR) return undefined;
      current += next;
      index++;
    } else if (char === SEPARATOR) {
      parts.push(current);
      current = '';
    } else current += char;
  }
  parts.push(current);
  return parts.length === arity ? parts : undefined;
}

/**
 * The SQL expression of the canonical id, given SQL expressions of the key columns (already
 * qualified, e.g. `s."org_id"`). E'' literals mean the same whatever standard_conforming_strings
 * says. IMMUTABLE for the column types composite keys allow, so it can define a generated column.
 */
export function canonicalIdSql(columns: readonly string[]): string {
  if (columns.length === 1) return `${columns[0]}::text`;
  return columns
    .map((column) => `replace(replace(${column}::text, E'\\\\', E'\\\\\\\\'), ',', E'\\\\,')`)
    .join(` || ',' || `);
}
