import type { PGlite, Transaction } from '@electric-sql/pglite';
import type { Database, ListenSession, QueryResult, SqlExecutor } from './database.js';

/**
 * Embedded Postgres (PGlite, WASM) for the zero-setup demo. It is one session, so
 * transactions serialise, LISTEN never drops and SKIP LOCKED never skips: correct, just not
 * concurrent. Parameters are encoded the way node-postgres encodes them, so the same SQL
 * works on both (PGlite cannot serialise arrays of extension types such as vector[] itself).
 */
export class PgliteDatabase implements Database {
  readonly kind = 'pglite' as const;

  constructor(
    readonly pglite: PGlite,
    private readonly ownsInstance = true,
  ) {}

  static async create(options: { dataDir?: string } = {}): Promise<PgliteDatabase> {
    const { PGlite } = await import('@electric-sql/pglite');
    const { vector } = await import('@electric-sql/pglite/vector');
    const pglite = new PGlite(options.dataDir ?? 'memory://', { extensions: { vector } });
    await pglite.waitReady;
    return new PgliteDatabase(pglite);
  }

  query<Row>(text: string, values?: readonly unknown[]): Promise<QueryResult<Row>> {
    return runOn(this.pglite, text, values);
  }

  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.pglite.transaction((tx) => work({ query: (text, values) => runOn(tx, text, values) }));
  }

  async openListenSession(): Promise<ListenSession> {
    const pglite = this.pglite;
    const unsubscribers: Array<() => Promise<void>> = [];
    return {
      async listen(channel, onNotification) {
        unsubscribers.push(await pglite.listen(channel, onNotification));
      },
      async ping() {
        await pglite.query('SELECT 1');
      },
      onLost() {
        // An in-process database cannot lose its session.
      },
      async close() {
        for (const unsubscribe of unsubscribers.splice(0)) await unsubscribe().catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {
    if (this.ownsInstance && !this.pglite.closed) await this.pglite.close();
  }
}

async function runOn<Row>(
  target: PGlite | Transaction,
  text: string,
  values?: readonly unknown[],
): Promise<QueryResult<Row>> {
  if (values === undefined || values.length === 0) {
    // exec() takes several statements (migrations); query() takes exactly one.
    const results = await target.exec(text);
    const last = results[results.length - 1];
    return { rows: (last?.rows ?? []) as Row[], rowCount: last?.affectedRows ?? 0 };
  }
  const result = await target.query<Row>(text, values.map(encodeParameter));
  return { rows: result.rows, rowCount: result.affectedRows ?? 0 };
}

/** Mirrors node-postgres' prepareValue so both drivers receive identical text parameters. */
export function encodeParameter(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return encodeArray(value);
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'object') return JSON.stringify(value);
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function encodeArray(items: readonly unknown[]): string {
  const parts = items.map((item) => {
    if (item === null || item === undefined) return 'NULL';
    if (Array.isArray(item)) return encodeArray(item);
    const text = String(encodeParameter(item));
    return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  });
  return `{${parts.join(',')}}`;
}
