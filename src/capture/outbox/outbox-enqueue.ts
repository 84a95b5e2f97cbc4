/**
 * Any client with node-postgres' `query(text, values)` shape: `pg.Client`, `pg.PoolClient`,
 * `pg.Pool`, PGlite, or the client under an ORM. Looser than the internal SqlExecutor (whose
 * `rowCount` is never null), so that application clients fit as they are.
 */
export interface QueryClient {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

export interface EnqueueRequest {
  collection: string;
  tenant: string;
  id: string;
  op?: 'upsert' | 'delete';
  /** The source version written (or, for a delete, the version deleted). */
  version?: number | null;
}

/**
 * Application-side capture: call with the client of your own transaction, right after the
 * write. The event commits or rolls back with it. Triggers use the same outbox table; this
 * is for tables where triggers are not wanted or for changes computed outside SQL. Returns the
 * outbox event's id.
 */
export async function enqueueChange(client: QueryClient, request: EnqueueRequest): Promise<string> {
  const result = await client.query('SELECT vectorsync.enqueue($1, $2, $3, $4, $5)::text AS id', [
    request.collection,
    request.tenant,
    request.id,
    request.op ?? 'upsert',
    request.version ?? null,
  ]);
  return (result.rows[0] as { id: string }).id;
}
