import pg from 'pg';
import type { PgDatabase } from '../../db/pg-database.js';
import type { AnnIndexTable, AnnMethod, DedicatedSession, IndexOpsSupport } from '../index-ops-support.js';
import type { IndexSpec } from '../vector-store.js';
import { type PgvectorStoreConfig, pgvectorSearchSettings, pgvectorVectorType } from './pgvector-config.js';

/** What src/indexops needs to manage the HNSW / IVFFlat indexes of pgvector index tables. */
export class PgvectorIndexOps implements IndexOpsSupport {
  readonly engine = 'postgres' as const;
  readonly methods = ['hnsw', 'ivfflat'] as const;
  readonly distanceOperator = '<=>';

  constructor(
    readonly db: PgDatabase,
    private readonly config: PgvectorStoreConfig,
  ) {}

  table(spec: IndexSpec): AnnIndexTable {
    return {
      schema: 'vectorsync',
      name: spec.location,
      qualified: `"vectorsync"."${spec.location}"`,
      vectorColumn: 'embedding',
      vectorType: pgvectorVectorType(spec),
      tenantColumn: 'tenant',
      idColumn: 'id',
      dimensions: spec.dimensions,
    };
  }

  /** pgvector names its operator classes by type (`vector_cosine_ops`, `halfvec_cosine_ops`), for HNSW and IVFFlat alike. */
  opclass(table: AnnIndexTable, _method: AnnMethod): string {
    return `${table.vectorType}_cosine_ops`;
  }

  async openSession(purpose: string): Promise<DedicatedSession> {
    const client = new pg.Client({
      ...this.db.pool.options,
      application_name: `vectorsync-${purpose}`.slice(0, 63),
    });
    // A session whose backend is cancelled or terminated reports it through the pending query;
    // without a listener the client's 'error' event would crash the process.
    client.on('error', () => undefined);
    await client.connect();
    try {
      const identity = await client.query<{ pid: number; backend_start: Date }>(
        'SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()',
      );
      return new PgDedicatedSession(client, identity.rows[0]!.pid, identity.rows[0]!.backend_start);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
  }

  searchSettings(): ReadonlyArray<readonly [string, string]> {
    return pgvectorSearchSettings(this.config);
  }
}

class PgDedicatedSession implements DedicatedSession {
  private closed = false;

  constructor(
    private readonly client: pg.Client,
    readonly pid: number,
    readonly backendStart: Date,
  ) {}

  async query<Row>(text: string, values?: readonly unknown[]) {
    const result = await this.client.query(text, values as unknown[] | undefined);
    return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
  }

  onNotice(listener: (message: string) => void): void {
    this.client.on('notice', (notice) => listener(notice.message ?? ''));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.end().catch(() => undefined);
  }
}
