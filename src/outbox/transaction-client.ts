import { ErrorCode, VectorsyncError } from '../errors.js';

/**
 * node-postgres `PoolClient` / `Client`, PGlite, vectorsync's own transaction (`db.transaction(tx => …)`):
 * anything that runs a parameterised statement.
 */
export interface QueryClient {
  query(text: string, values?: unknown[]): PromiseLike<{ rows: unknown[] }>;
}

/** The shape of Kysely's `CompiledQuery` (what `CompiledQuery.raw(sql, parameters)` builds). */
export interface RawCompiledQuery {
  readonly sql: string;
  readonly parameters: readonly unknown[];
  readonly query: {
    readonly kind: 'RawNode';
    readonly sqlFragments: readonly string[];
    readonly parameters: readonly never[];
  };
  readonly queryId: { readonly queryId: string };
}

/** Kysely: a `Transaction` from `db.transaction().execute(trx => …)` (or a `db.connection()`). */
export interface CompiledQueryClient {
  executeQuery(query: RawCompiledQuery): PromiseLike<{ rows: unknown[] }>;
}

/** Drizzle: the `tx` of `db.transaction(tx => …)`, whose `execute` takes SQL text. */
export interface SqlTextClient {
  execute(sql: string): PromiseLike<unknown>;
}

/**
 * The application's open transaction, exactly as its database library hands it out. Capture
 * runs its one statement on it, so the outbox event commits or rolls back with the
 * application's own writes. Structural: vectorsync depends on none of these libraries.
 */
export type TransactionClient = QueryClient | CompiledQueryClient | SqlTextClient;

/** One statement, given both ways: with parameters, and as self-contained text for clients that take no parameters. */
export interface CaptureStatement {
  text: string;
  values: unknown[];
  /** The same statement with every value spliced in as a literal. */
  inlined: string;
}

/** Runs `statement` on the caller's transaction and returns its rows. */
export async function runOnTransaction(
  client: TransactionClient,
  statement: CaptureStatement,
): Promise<Array<Record<string, unknown>>> {
  const candidate = client as Partial<QueryClient & CompiledQueryClient & SqlTextClient> | null;
  // Checked in this order: a Drizzle transaction has a `query` *object* (its relational API),
  // and none of these libraries offers two of the three methods.
  if (typeof candidate?.query === 'function') {
    const result = await candidate.query(statement.text, statement.values);
    return result.rows as Array<Record<string, unknown>>;
  }
  if (typeof candidate?.executeQuery === 'function') {
    const result = await candidate.executeQuery(rawCompiledQuery(statement.text, statement.values));
    return result.rows as Array<Record<string, unknown>>;
  }
  if (typeof candidate?.execute === 'function') {
    const result = await candidate.execute(statement.inlined);
    return rowsOf(result);
  }
  throw new VectorsyncError(
    ErrorCode.InvalidRequest,
    `capture needs the client of your open transaction (something with query(text, values), executeQuery(compiledQuery) or execute(sql)); got ${describe(client)}`,
  );
}

function rawCompiledQuery(sql: string, parameters: unknown[]): RawCompiledQuery {
  return Object.freeze({
    sql,
    parameters: Object.freeze([...parameters]),
    query: Object.freeze({ kind: 'RawNode' as const, sqlFragments: Object.freeze([sql]), parameters: [] }),
    // Kysely keys per-query plugin state by this object's identity.
    queryId: Object.freeze({ queryId: crypto.randomUUID() }),
  });
}

/** node-postgres drivers resolve to `{ rows }`; postgres.js and others resolve to the rows themselves. */
function rowsOf(result: unknown): Array<Record<string, unknown>> {
  if (Array.isArray(result)) return result as Array<Record<string, unknown>>;
  const rows = (result as { rows?: unknown } | null)?.rows;
  return Array.isArray(rows) ? (rows as Array<Record<string, unknown>>) : [];
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value !== 'object') return typeof value;
  const name = (value as { constructor?: { name?: string } }).constructor?.name;
  return name && name !== 'Object' ? `a ${name}` : 'an object without those methods';
}

/**
 * A SQL literal that means the same whatever `standard_conforming_strings` says (the `E''`
 * form whenever there is a backslash), for clients that take SQL text only.
 */
export function sqlLiteral(value: string | number | null): string {
  if (value === null) return 'NULL';
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`not an integer: ${value}`);
    return String(value);
  }
  const quoted = `'${value.replace(/'/g, "''")}'`;
  return value.includes('\\') ? `E${quoted.replace(/\\/g, '\\\\')}` : quoted;
}
