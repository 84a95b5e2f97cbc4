import type { PayloadField } from '../config/collection-definition.js';
import type { QualifiedName } from '../db/sql-identifier.js';
import type { VectorsyncError } from '../errors.js';
import type { EmbeddedDocument } from '../pipeline/index-document.js';
import type { FilterNode } from '../search/filter.js';
import type { IndexOpsSupport } from './index-ops-support.js';

/** Everything a store needs to create and address one physical index. */
export interface IndexSpec {
  /** Row id in vectorsync.indexes. */
  indexId: number;
  collection: string;
  /** Store-specific physical name (table, collection, directory). */
  location: string;
  dimensions: number;
  metric: 'cosine';
  payloadFields: readonly PayloadField[];
  /**
   * The source row every record must belong to. Stores that can enforce it (pgvector in the
   * source database) do so with a foreign key; a write for a missing row then fails naming it.
   */
  source?: { table: QualifiedName; column: string; type: string };
  params: Record<string, unknown>;
}

/**
 * applied: the write changed the index. skipped_stale: nothing to do, because the index
 * already holds this version (a redelivery), a newer one, or a newer delete (tombstone).
 */
export type ApplyOutcome = 'applied' | 'skipped_stale' | 'failed';

export interface ApplyResult {
  id: string;
  outcome: ApplyOutcome;
  error?: VectorsyncError;
}

export interface DeleteRequest {
  /** Null when only the key is known (a CDC delete with the default replica identity): any tenant. */
  tenant: string | null;
  id: string;
  /** The source version that was deleted; null deletes whatever version is stored. */
  version: number | null;
}

export interface DenseSearchRequest {
  tenant: string;
  vector: Float32Array;
  k: number;
  filter?: FilterNode;
}

export interface Bm25Params {
  k1: number;
  b: number;
}

export interface KeywordSearchRequest {
  tenant: string;
  /** Analysed query terms with their frequency in the query. */
  terms: ReadonlyArray<{ term: string; frequency: number }>;
  k: number;
  filter?: FilterNode;
  bm25: Bm25Params;
}

export interface SearchHit {
  id: string;
  /** Dense: cosine similarity (higher is closer). Keyword: the BM25 score. */
  score: number;
  version: number;
  payload: Record<string, unknown>;
}

/** What reconciliation compares: identity, version and content hash, no vectors. */
export interface StoredRecordMeta {
  tenant: string;
  id: string;
  version: number;
  contentHash: string;
}

export interface ScanRequest {
  tenant?: string;
  /** Exclusive lower bound on id (ids compare as text, byte order). */
  afterId?: string;
  limit: number;
}

export interface StoreCapabilities {
  /** Enforces that a record's source row exists (foreign key). */
  sourceForeignKey: boolean;
  /** Implements keywordSearch (BM25). */
  keyword: boolean;
  /** Applies payload filters inside the search (not after it). */
  filters: boolean;
}

/**
 * The contract every vector store implements. Writes are idempotent and version-guarded:
 * an upsert never replaces a record built from a newer source version, and a delete leaves
 * a tombstone so that a late, older upsert cannot bring the record back.
 */
export interface VectorStore {
  readonly kind: string;
  readonly capabilities: StoreCapabilities;
  ensureIndex(spec: IndexSpec): Promise<void>;
  upsert(spec: IndexSpec, documents: readonly EmbeddedDocument[]): Promise<ApplyResult[]>;
  delete(spec: IndexSpec, requests: readonly DeleteRequest[]): Promise<ApplyResult[]>;
  /** Removes every record (source TRUNCATE). */
  truncate(spec: IndexSpec): Promise<void>;
  search(spec: IndexSpec, request: DenseSearchRequest): Promise<SearchHit[]>;
  /** BM25 over the documents' analysed keyword text; present when capabilities.keyword. */
  keywordSearch?(spec: IndexSpec, request: KeywordSearchRequest): Promise<SearchHit[]>;
  scan(spec: IndexSpec, request: ScanRequest): Promise<StoredRecordMeta[]>;
  count(spec: IndexSpec, tenant?: string): Promise<number>;
  drop(spec: IndexSpec): Promise<void>;
  /** Periodic housekeeping (e.g. folding statistics deltas); called by sync workers. */
  maintain?(spec: IndexSpec): Promise<void>;
  /** Present when src/indexops can manage the store's ANN indexes (build, rebuild, rehearse, abort). */
  readonly indexOps?: IndexOpsSupport;
  /** Cheap liveness probe for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
