import { ErrorCode, VectorsyncError } from '../errors.js';
import { contentHash } from '../pipeline/content-hash.js';
import { MemoryEmbeddingCache } from '../pipeline/embedding-cache.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { assertEmbedderMatches } from '../stores/index-registry.js';
import type { SearchHit } from '../stores/vector-store.js';

export interface SearchRequest {
  collection: string;
  tenant: string;
  query: string;
  k: number;
}

export interface SearchResponse {
  collection: string;
  mode: 'semantic';
  k: number;
  hits: SearchHit[];
  tookMs: number;
}

export const MAX_K = 1000;
export const MAX_QUERY_CHARS = 4096;

/** Tenant-scoped search over a collection's active index. */
export class SearchService {
  private readonly queryVectors = new MemoryEmbeddingCache(2000);

  constructor(private readonly runtime: VectorsyncRuntime) {}

  async search(request: SearchRequest): Promise<SearchResponse> {
    const started = performance.now();
    validateSearch(request);
    const collection = this.runtime.collection(request.collection);
    const target = this.runtime.activeTarget(request.collection);
    assertEmbedderMatches(target.record, collection.embedder);
    const vector = await this.embedQuery(collection.embedder, request.query);
    const hits = await collection.store.search(target.spec, { tenant: request.tenant, vector, k: request.k });
    return {
      collection: request.collection,
      mode: 'semantic',
      k: request.k,
      hits,
      tookMs: round(performance.now() - started),
    };
  }

  private async embedQuery(
    embedder: { modelId: string; dimensions: number; embed(texts: string[]): Promise<Float32Array[]> },
    query: string,
  ): Promise<Float32Array> {
    const key = contentHash(query, embedder.modelId, embedder.dimensions);
    const cached = (await this.queryVectors.getMany([key])).get(key);
    if (cached) return cached;
    const [vector] = await embedder.embed([query]);
    if (!vector || vector.length !== embedder.dimensions) {
      throw new VectorsyncError(
        ErrorCode.DimensionMismatch,
        `embedder ${embedder.modelId} returned a query vector of ${vector?.length ?? 0} dimensions, expected ${embedder.dimensions}`,
      );
    }
    await this.queryVectors.putMany([{ hash: key, vector }]);
    return vector;
  }
}

export function validateSearch(request: { query: string; k: number }): void {
  if (typeof request.query !== 'string' || request.query.trim() === '') {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      'query parameter "q" is required and must not be empty',
      { details: { field: 'q' } },
    );
  }
  if (request.query.length > MAX_QUERY_CHARS) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `query parameter "q" is longer than ${MAX_QUERY_CHARS} characters`,
      {
        details: { field: 'q', length: request.query.length },
      },
    );
  }
  if (!Number.isInteger(request.k) || request.k < 1 || request.k > MAX_K) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `parameter "k" must be an integer from 1 to ${MAX_K} (got ${request.k})`,
      {
        details: { field: 'k', value: request.k },
      },
    );
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
