import type { Database, SqlExecutor } from '../db/database.js';
import type { IndexSpec } from './vector-store.js';

/** ANN index methods vectorsync can build and manage. */
export type AnnMethod = 'hnsw' | 'ivfflat';

/** Where one index version's vectors live, for DDL and catalog queries. */
export interface AnnIndexTable {
  schema: string;
  name: string;
  /** `"schema"."name"`, ready to splice into SQL. */
  qualified: string;
  vectorColumn: string;
  /** The column's type (pgvector `vector` or `halfvec`): operator classes and query casts follow it. */
  vectorType: 'vector' | 'halfvec';
  tenantColumn: string;
  idColumn: string;
  dimensions: number;
}

/**
 * One dedicated server session (never pooled, never in a transaction block): CREATE INDEX
 * CONCURRENTLY cannot run in a transaction, and a build must be cancellable by its backend pid
 * from any other process.
 */
export interface DedicatedSession extends SqlExecutor {
  readonly pid: number;
  readonly backendStart: Date;
  /** Server NOTICEs (pgvector reports "hnsw graph no longer fits into maintenance_work_mem"). */
  onNotice(listener: (message: string) => void): void;
  close(): Promise<void>;
}

/**
 * The capability a store declares (`VectorStore.indexOps`) when its ANN indexes are Postgres
 * indexes that src/indexops can build concurrently, watch, cancel, rehearse and swap. Stores
 * that manage their indexes themselves (or the single-session embedded demo) leave it out, and
 * the index commands say so.
 */
export interface IndexOpsSupport {
  readonly engine: 'postgres';
  readonly methods: readonly AnnMethod[];
  /** Operator class of a table's vector column for a method, for the store's distance (cosine). */
  opclass(table: AnnIndexTable, method: AnnMethod): string;
  /** The distance operator production searches order by. */
  readonly distanceOperator: string;
  /** The database holding the index tables (the source database or the store's own). */
  readonly db: Database;
  table(spec: IndexSpec): AnnIndexTable;
  openSession(purpose: string): Promise<DedicatedSession>;
  /**
   * The session settings production searches run with (ef_search, iterative scans, probes), so
   * a recall check measures what searches actually get.
   */
  searchSettings(): ReadonlyArray<readonly [name: string, value: string]>;
}
