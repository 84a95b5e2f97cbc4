import type { SearchSettings } from '../config/config-schema.js';
import { isBilled } from '../costs/metered-embedding.js';
import type { Embedder } from '../embedders/embedder.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import { embeddingOf } from '../index-versions/catalog-snapshot.js';
import { assertAnalyzerMatches } from '../index-versions/index-catalog.js';
import { contentHash } from '../pipeline/content-hash.js';
import { MemoryEmbeddingCache } from '../pipeline/embedding-cache.js';
import type { CollectionRuntime, IndexTarget, VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { isChunked } from '../stores/index-params.js';
import type { ChunkHit, SearchHit, StoredChunk } from '../stores/vector-store.js';
import { type FilterNode, parseFilter } from './filter.js';
import {
  type FusedHit,
  reciprocalRankFusion,
  type SignalName,
  type SignalResult,
  weightedScoreFusion,
} from './fusion.js';
import { hybridFusionLabel } from './fusion-label.js';

export type SearchMode = 'semantic' | 'keyword' | 'hybrid';
export const searchModes: readonly SearchMode[] = ['semantic', 'keyword', 'hybrid'];

export interface SearchRequest {
  collection: string;
  tenant: string;
  query: string;
  mode?: SearchMode;
  k: number;
  offset?: number;
  /** Filter JSON (text or parsed), validated against the collection's payload fields. */
  filter?: unknown;
  explain?: boolean;
  /** A chunked collection: how many of each document's best chunks a hit carries (default 1). */
  chunks?: number;
  /** Per-request overrides of the collection's hybrid settings. */
  fusion?: Partial<Pick<SearchSettings, 'fusion' | 'rrfK' | 'weights' | 'normalization'>>;
}

export interface SearchResultHit {
  id: string;
  score: number;
  version: number;
  payload: Record<string, unknown>;
  /** A chunked collection's matching chunks (text and offsets into the document), best first. */
  chunks?: ChunkHit[];
  explain?: {
    fusion?: string;
    signals: Partial<Record<SignalName, { rank: number; score: number } | null>>;
    /** The ordinal of the chunk that matched (chunked collections). */
    chunk?: number;
  };
}

export const MAX_CHUNKS_PER_HIT = 20;

export interface SearchResponse {
  collection: string;
  mode: SearchMode;
  k: number;
  offset: number;
  hits: SearchResultHit[];
  /** Pass as `cursor` for the next page; null when there is none. */
  next: string | null;
  tookMs: number;
}

export const MAX_K = 1000;
export const MAX_DEPTH = 1000;
export const MAX_QUERY_CHARS = 4096;

/**
 * Tenant-scoped search over a collection's active index: semantic (dense vectors), keyword
 * (BM25) or hybrid (both, fused by RRF or by normalised weighted scores). Filters apply
 * inside each signal's search, never after it, so a filtered page is still full.
 */
export class SearchService {
  private readonly queryVectors = new MemoryEmbeddingCache(2000);

  constructor(private readonly runtime: VectorsyncRuntime) {}

  /**
   * `options.target` searches another live index of the collection than the active one (a
   * store migration's shadow reads compare the two).
   */
  async search(request: SearchRequest, options: { target?: IndexTarget } = {}): Promise<SearchResponse> {
    const started = performance.now();
    const mode = request.mode ?? 'hybrid';
    const offset = request.offset ?? 0;
    validateSearch({ query: request.query, k: request.k, offset, mode });
    validateChunksPerHit(request.chunks);
    const collection = this.runtime.collection(request.collection);
    const target = options.target ?? this.runtime.activeTarget(request.collection);
    const filter = parseFilter(request.filter, collection.definition.payloadFields);
    const settings = { ...collection.definition.config.search, ...request.fusion };
    const depth = offset + request.k;

    let hits: SearchResultHit[];
    if (mode === 'hybrid' && target.store.capabilities.nativeHybrid && target.store.hybridSearch) {
      hits = (await this.nativeHybrid(collection, target, request, depth, filter))
        .slice(offset, depth)
        .map((hit) => ({
          ...hit,
          ...(request.explain
            ? { explain: { fusion: hybridFusionLabel(target.store, settings), signals: {} } }
            : {}),
        }));
    } else if (mode === 'hybrid') {
      const candidates = Math.max(settings.candidates, depth);
      const [semantic, keyword] = await Promise.all([
        this.semantic(target, request, candidates, filter),
        this.keyword(collection, target, request, candidates, filter),
      ]);
      const signals: SignalResult[] = [
        { name: 'semantic', weight: settings.weights.semantic, hits: semantic },
        { name: 'keyword', weight: settings.weights.keyword, hits: keyword },
      ];
      const fused =
        settings.fusion === 'rrf'
          ? reciprocalRankFusion(signals, settings.rrfK)
          : weightedScoreFusion(signals, settings.normalization);
      const fusionLabel = hybridFusionLabel(target.store, settings);
      hits = fused
        .slice(offset, depth)
        .map((hit) => toResult(hit, request.explain ? fusionLabel : undefined));
    } else {
      const signal =
        mode === 'semantic'
          ? await this.semantic(target, request, depth, filter)
          : await this.keyword(collection, target, request, depth, filter);
      hits = signal.slice(offset, depth).map((hit, index) => ({
        ...hit,
        ...(request.explain
          ? { explain: { signals: { [mode]: { rank: offset + index + 1, score: hit.score } } } }
          : {}),
      }));
    }
    if (isChunked(target.spec)) hits = await this.withChunks(collection, target, request, hits);
    const hasMore = hits.length === request.k && depth < MAX_DEPTH;
    return {
      collection: request.collection,
      mode,
      k: request.k,
      offset,
      hits,
      next: hasMore ? encodeCursor(depth) : null,
      tookMs: Math.round((performance.now() - started) * 100) / 100,
    };
  }

  private async semantic(
    target: IndexTarget,
    request: SearchRequest,
    k: number,
    filter: FilterNode | undefined,
  ): Promise<SearchHit[]> {
    // The version's own embedder: during a model change the old version still answers.
    const vector = await this.embedQuery(embeddingOf(target).embedder, request);
    return target.store.search(target.spec, {
      tenant: request.tenant,
      vector,
      k,
      ...(filter ? { filter } : {}),
      ...(request.chunks !== undefined ? { chunksPerHit: request.chunks } : {}),
    });
  }

  /**
   * Every hit of a chunked collection carries its matching chunks. A semantic match brings its
   * nearest chunks; a document found by keywords alone gets the chunks where the query's terms
   * weigh most (each term weighted by its rarity among the document's chunks is not needed:
   * the terms are the query's, the ranking is within one document).
   */
  private async withChunks(
    collection: CollectionRuntime,
    target: IndexTarget,
    request: SearchRequest,
    hits: SearchResultHit[],
  ): Promise<SearchResultHit[]> {
    const wanted = request.chunks ?? 1;
    const missing = hits.filter((hit) => !hit.chunks || hit.chunks.length === 0).map((hit) => hit.id);
    const stored =
      missing.length > 0 && target.store.readChunks
        ? await target.store.readChunks(target.spec, missing, request.tenant)
        : new Map();
    const terms = [...collection.analyzer.termFrequencies(request.query).frequencies.keys()];
    return hits.map((hit) => {
      let chunks = hit.chunks;
      if (!chunks || chunks.length === 0) {
        chunks = ((stored.get(hit.id) ?? []) as StoredChunk[])
          .map((chunk) => ({
            ordinal: chunk.ordinal,
            start: chunk.start,
            end: chunk.end,
            text: chunk.text,
            ...(chunk.context ? { context: chunk.context } : {}),
            score: termMatches(collection, chunk.text, terms),
          }))
          .sort((a, b) => b.score - a.score || a.ordinal - b.ordinal)
          .slice(0, wanted);
      }
      const result: SearchResultHit = { ...hit, chunks: chunks.slice(0, wanted) };
      if (result.explain && chunks[0]) result.explain = { ...result.explain, chunk: chunks[0].ordinal };
      return result;
    });
  }

  /** The store fuses both signals itself (Qdrant's Query API RRF): per-request fusion settings do not apply. */
  private async nativeHybrid(
    collection: CollectionRuntime,
    target: IndexTarget,
    request: SearchRequest,
    k: number,
    filter: FilterNode | undefined,
  ): Promise<SearchHit[]> {
    assertAnalyzerMatches(target.record, collection.definition.config.analyzer);
    const vector = await this.embedQuery(embeddingOf(target).embedder, request);
    const { frequencies } = collection.analyzer.termFrequencies(request.query);
    return target.store.hybridSearch!(target.spec, {
      tenant: request.tenant,
      vector,
      terms: [...frequencies].map(([term, frequency]) => ({ term, frequency })),
      candidates: Math.max(collection.definition.config.search.candidates, k),
      k,
      ...(filter ? { filter } : {}),
    });
  }

  private async keyword(
    collection: CollectionRuntime,
    target: IndexTarget,
    request: SearchRequest,
    k: number,
    filter: FilterNode | undefined,
  ): Promise<SearchHit[]> {
    if (!target.store.keywordSearch || !target.store.capabilities.keyword) {
      throw new VectorsyncError(
        ErrorCode.InvalidRequest,
        `store "${target.storeName}" (${target.store.kind}) has no keyword search; use mode=semantic`,
        {
          details: { store: target.storeName },
        },
      );
    }
    assertAnalyzerMatches(target.record, collection.definition.config.analyzer);
    const { frequencies } = collection.analyzer.termFrequencies(request.query);
    if (frequencies.size === 0) return [];
    return target.store.keywordSearch(target.spec, {
      tenant: request.tenant,
      terms: [...frequencies].map(([term, frequency]) => ({ term, frequency })),
      k,
      bm25: collection.definition.config.search.bm25,
      ...(filter ? { filter } : {}),
    });
  }

  private async embedQuery(embedder: Embedder, request: SearchRequest): Promise<Float32Array> {
    const { query } = request;
    const key = contentHash(query, embedder.modelId, embedder.dimensions);
    const cached = (await this.queryVectors.getMany([key])).get(key);
    if (cached) return cached;
    // Queries are billed too: the ledger's 'query' lane (budgets cap indexing, never searches).
    const [vector] = await embedder.embed([query], {
      onUsage: (usage) =>
        isBilled(embedder) &&
        this.runtime.ledger.record({
          collection: request.collection,
          tenant: request.tenant,
          model: embedder.modelId,
          lane: 'query',
          requests: usage.requests,
          texts: 1,
          tokens: usage.tokens,
          estimatedTokens: usage.estimated ? usage.tokens : 0,
          cachedTexts: 0,
          cachedTokens: 0,
        }),
    });
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

/** How many times the query's analysed terms occur in a chunk's text. */
function termMatches(collection: CollectionRuntime, text: string, terms: readonly string[]): number {
  const { frequencies } = collection.analyzer.termFrequencies(text);
  let count = 0;
  for (const term of terms) count += frequencies.get(term) ?? 0;
  return count;
}

function validateChunksPerHit(chunks: number | undefined): void {
  if (chunks === undefined) return;
  if (!Number.isInteger(chunks) || chunks < 1 || chunks > MAX_CHUNKS_PER_HIT) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `parameter "chunks" must be an integer from 1 to ${MAX_CHUNKS_PER_HIT} (got ${chunks})`,
      { details: { field: 'chunks', value: chunks } },
    );
  }
}

function toResult(hit: FusedHit, fusion: string | undefined): SearchResultHit {
  const result: SearchResultHit = {
    id: hit.id,
    score: hit.score,
    version: hit.version,
    payload: hit.payload,
    ...(hit.chunks ? { chunks: hit.chunks } : {}),
  };
  if (fusion !== undefined) {
    result.explain = {
      fusion,
      signals: { semantic: hit.signals.semantic ?? null, keyword: hit.signals.keyword ?? null },
    };
  }
  return result;
}

export function encodeCursor(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString('base64url');
}

export function decodeCursor(cursor: string): number {
  try {
    const { offset } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { offset?: unknown };
    if (typeof offset === 'number' && Number.isInteger(offset) && offset >= 0) return offset;
  } catch {
    // fall through
  }
  throw new VectorsyncError(
    ErrorCode.InvalidRequest,
    `parameter "cursor" is not a cursor returned by this API`,
    { details: { field: 'cursor' } },
  );
}

export function validateSearch(request: { query: string; k: number; offset?: number; mode?: string }): void {
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
        details: { field: 'q', length: request.query.length, limit: MAX_QUERY_CHARS },
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
  const offset = request.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0 || offset + request.k > MAX_DEPTH) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `parameter "offset" must be ≥ 0 with offset + k ≤ ${MAX_DEPTH} (got ${offset})`,
      {
        details: { field: 'offset', value: offset },
      },
    );
  }
  if (request.mode !== undefined && !(searchModes as readonly string[]).includes(request.mode)) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `parameter "mode" must be one of ${searchModes.join(', ')} (got "${request.mode}")`,
      {
        details: { field: 'mode', value: request.mode },
      },
    );
  }
}
