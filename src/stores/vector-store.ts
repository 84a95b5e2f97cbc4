import type { PayloadField } from '../config/collection-definition.js';
import type { QualifiedName } from '../db/sql-identifier.js';
import type { VectorsyncError } from '../errors.js';
import type { EmbeddedDocument } from '../pipeline/index-document.js';
import type { FilterNode } from './filter-tree.js';
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
   * `columns`: the key columns in canonical-id order (one, or several for a composite key).
   */
  source?: { table: QualifiedName; columns: ReadonlyArray<{ name: string; type: string }> };
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

export interface UpsertOptions {
  /**
   * Write each document whatever the index holds for its id (a newer version, a tombstone),
   * unless the stored record is identical. Only for a caller that has just read the row from
   * the source and checks the source again afterwards (the applier's authoritative repairs):
   * the guard exists because ordinary writers cannot know they are late.
   */
  overwrite?: boolean;
}

export interface DeleteRequest {
  /**
   * Null: any tenant. Source ids are unique in their table, so a row gone from the source
   * removes the id wherever it is stored; a tenant names only the old key of a moved row.
   */
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
  /** A chunked index: how many of each document's best chunks a hit carries (default 1). */
  chunksPerHit?: number;
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

/** Both signals in one store-side query (a store that fuses natively, e.g. Qdrant's Query API RRF). */
export interface HybridSearchRequest {
  tenant: string;
  vector: Float32Array;
  terms: ReadonlyArray<{ term: string; frequency: number }>;
  /** Candidates each signal contributes before fusion. */
  candidates: number;
  k: number;
  filter?: FilterNode;
}

export interface SearchHit {
  id: string;
  /** Dense: cosine similarity (higher is closer); over chunks, the best chunk's. Keyword: the BM25 score. */
  score: number;
  version: number;
  payload: Record<string, unknown>;
  /** A chunked index's semantic hit: its best chunks, best first. */
  chunks?: ChunkHit[];
}

/** A chunk as search returns it: where it is in the document's text, and how well it matched. */
export interface ChunkHit {
  ordinal: number;
  start: number;
  end: number;
  text: string;
  context?: string;
  score: number;
}

/** A stored chunk, as the store contract and snippets read it. */
export interface StoredChunk {
  ordinal: number;
  tenant: string;
  start: number;
  end: number;
  text: string;
  context?: string;
  contentHash: string;
}

/** What reconciliation compares: identity, version and content hash, no vectors. */
export interface StoredRecordMeta {
  tenant: string;
  id: string;
  version: number;
  contentHash: string;
}

/**
 * Scans are by id bucket (src/stores/id-bucket.ts), not by id order: not every store can
 * return records in source-key order (Qdrant scrolls in point-UUID order, LanceDB has no
 * ORDER BY), but every store can persist the bucket and read a bucket range.
 */
export interface ScanRequest {
  /** Inclusive range of id buckets to read (0..ID_BUCKETS-1). */
  bucketFrom: number;
  bucketTo: number;
  tenant?: string;
  /** Opaque continuation token from the previous page; absent for the first page. */
  cursor?: string;
  limit: number;
}

export interface ScanPage {
  /** Order within a page is unspecified. */
  records: StoredRecordMeta[];
  /** null when the bucket range is exhausted. */
  cursor: string | null;
}

export interface BucketChecksum {
  bucket: number;
  count: number;
  /** XOR over the bucket's records of the first 16 hex digits (64 bits) of md5(`${id}:${version}:${contentHash}`), as 16 lowercase hex digits. */
  checksum: string;
}

export interface StoreCapabilities {
  /** Enforces that a record's source row exists (foreign key). */
  sourceForeignKey: boolean;
  /** Implements keywordSearch (BM25). */
  keyword: boolean;
  /** Applies payload filters inside the search (not after it). */
  filters: boolean;
  /**
   * Hybrid mode uses the store's own fusion (hybridSearch) instead of vectorsync's. Off unless a
   * store is configured for it: with it, hybrid ranks differ from the other stores'.
   */
  nativeHybrid?: boolean;
  /** Holds chunked index versions (a chunk table beside the documents' records). */
  chunks?: boolean;
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
  upsert(
    spec: IndexSpec,
    documents: readonly EmbeddedDocument[],
    options?: UpsertOptions,
  ): Promise<ApplyResult[]>;
  delete(spec: IndexSpec, requests: readonly DeleteRequest[]): Promise<ApplyResult[]>;
  /** Removes every record (source TRUNCATE). */
  truncate(spec: IndexSpec): Promise<void>;
  search(spec: IndexSpec, request: DenseSearchRequest): Promise<SearchHit[]>;
  /** BM25 over the documents' analysed keyword text; present when capabilities.keyword. */
  keywordSearch?(spec: IndexSpec, request: KeywordSearchRequest): Promise<SearchHit[]>;
  /** Reads identity, version and content hash of the records in a bucket range; never tombstones. */
  scan(spec: IndexSpec, request: ScanRequest): Promise<ScanPage>;
  /** Store-side fusion of dense and keyword candidates; used when capabilities.nativeHybrid. */
  hybridSearch?(spec: IndexSpec, request: HybridSearchRequest): Promise<SearchHit[]>;
  /**
   * Optional fast path: per-bucket counts and checksums computed inside the store, for buckets grouped
   * `1 << (16 - bucketBits)` at a time (i.e. the group number is bucket >> (16 - bucketBits)); only non-empty groups returned.
   */
  bucketChecksums?(
    spec: IndexSpec,
    request: { tenant?: string; bucketBits: number },
  ): Promise<BucketChecksum[]>;
  /**
   * The highest tombstone version held for each of these ids (absent: none), whatever tenant
   * it was written under. Reconciliation uses it to find tombstones that contradict the source
   * (a row that exists at a version a tombstone refuses).
   */
  tombstoneVersions?(spec: IndexSpec, ids: readonly string[]): Promise<Map<string, number>>;
  /**
   * A chunked index's stored chunks of these documents, in ordinal order (absent: none stored),
   * of one tenant when given (what a search answers with). Present when capabilities.chunks.
   */
  readChunks?(spec: IndexSpec, ids: readonly string[], tenant?: string): Promise<Map<string, StoredChunk[]>>;
  /** Live records (tombstones are not counted). */
  count(spec: IndexSpec, tenant?: string): Promise<number>;
  drop(spec: IndexSpec): Promise<void>;
  /**
   * Brings the store's query-planning statistics up to date after a bulk change (a build's
   * fill), so that a version's searches are planned, and approximate ones answered, as steady
   * serving will plan and answer them. Absent: the store keeps no such statistics.
   */
  refreshStatistics?(spec: IndexSpec): Promise<void>;
  /** Periodic housekeeping (e.g. folding statistics deltas); called by sync workers. */
  maintain?(spec: IndexSpec): Promise<void>;
  /** Present when src/indexops can manage the store's ANN indexes (build, rebuild, rehearse, abort). */
  readonly indexOps?: IndexOpsSupport;
  /** Cheap liveness probe for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
