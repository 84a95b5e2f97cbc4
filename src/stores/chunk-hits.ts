import type { ChunkHit, DenseSearchRequest, SearchHit } from './vector-store.js';

/** A chunk a store's nearest-neighbour search returned, with its document's version and payload. */
export interface ChunkCandidate {
  id: string;
  version: number;
  payload: Record<string, unknown>;
  chunk: ChunkHit;
}

/** The most chunks one search reads to fill k documents. */
const MAX_CHUNK_CANDIDATES = 10_000;

/**
 * Semantic search over chunks, for every store that holds them: the nearest chunks, grouped into
 * documents scored by their best chunk, each with its `chunksPerHit` best. Four chunks are read
 * per document asked (and per chunk wanted), four times more while the documents found fall
 * short of k and more chunks exist.
 */
export async function searchByChunks(
  request: Pick<DenseSearchRequest, 'k' | 'chunksPerHit'>,
  nearest: (limit: number) => Promise<ChunkCandidate[]>,
): Promise<SearchHit[]> {
  const perHit = Math.max(1, request.chunksPerHit ?? 1);
  let limit = Math.min(MAX_CHUNK_CANDIDATES, Math.max(40, request.k * 4 * perHit));
  for (;;) {
    const candidates = await nearest(limit);
    const hits = groupByDocument(candidates, perHit);
    if (hits.length >= request.k || candidates.length < limit || limit >= MAX_CHUNK_CANDIDATES)
      return hits.slice(0, request.k);
    limit = Math.min(MAX_CHUNK_CANDIDATES, limit * 4);
  }
}

function groupByDocument(candidates: readonly ChunkCandidate[], perHit: number): SearchHit[] {
  const byId = new Map<string, SearchHit & { chunks: ChunkHit[] }>();
  const sorted = [...candidates].sort(
    (a, b) => b.chunk.score - a.chunk.score || a.chunk.ordinal - b.chunk.ordinal,
  );
  for (const { id, version, payload, chunk } of sorted) {
    const hit = byId.get(id);
    if (!hit) byId.set(id, { id, score: chunk.score, version, payload, chunks: [chunk] });
    else if (hit.chunks.length < perHit) hit.chunks.push(chunk);
  }
  return [...byId.values()].sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
