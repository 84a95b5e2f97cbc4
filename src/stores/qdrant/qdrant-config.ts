import { createHash } from 'node:crypto';
import type { StoreConfig } from '../../config/config-schema.js';
import type { Bm25Params } from '../vector-store.js';

export type QdrantStoreConfig = Extract<StoreConfig, { provider: 'qdrant' }>;

/** Names inside a Qdrant collection (one collection per index version, named after its location). */
export const DENSE_VECTOR = 'dense';
export const SPARSE_VECTOR = 'bm25';
/** Payload keys vectorsync owns; the collection's payload fields live under `PAYLOAD_KEY`. */
export const META = {
  id: '_id',
  tenant: '_tenant',
  version: '_version',
  hash: '_hash',
  deleted: '_deleted',
  bucket: '_bucket',
  fingerprint: '_fp',
} as const;
export const PAYLOAD_KEY = 'p';

export function payloadKey(field: string): string {
  return `${PAYLOAD_KEY}.${field}`;
}

/**
 * A term's dimension in the sparse BM25 vector: the first 32 bits of sha1(term). Stable across
 * processes and versions (no dictionary to share). Two terms can collide (expected pairs ≈
 * V²/2³³ for a vocabulary of V terms: about one at 100,000 terms); colliding terms then share
 * postings and IDF, which blurs their scores but never drops a document.
 */
export function termDimension(term: string): number {
  return createHash('sha1').update(term, 'utf8').digest().readUInt32BE(0);
}

/**
 * BM25 term weights of a document, computed by vectorsync at write time:
 * tf·(k1+1) / (tf + k1·(1 − b + b·|d|/avgdl)). Qdrant multiplies by IDF (`modifier: idf`) at
 * query time; colliding terms in one document are summed (Qdrant needs unique indices).
 */
export function bm25SparseVector(
  terms: Record<string, number>,
  length: number,
  params: Bm25Params & { avgDocLength: number },
): { indices: number[]; values: number[] } {
  const weights = new Map<number, number>();
  const norm = params.k1 * (1 - params.b + (params.b * length) / params.avgDocLength);
  for (const [term, tf] of Object.entries(terms)) {
    const dimension = termDimension(term);
    weights.set(dimension, (weights.get(dimension) ?? 0) + (tf * (params.k1 + 1)) / (tf + norm));
  }
  const indices = [...weights.keys()].sort((a, b) => a - b);
  return { indices, values: indices.map((index) => weights.get(index)!) };
}

/** The query side: each distinct term's dimension weighted by its frequency in the query. */
export function querySparseVector(terms: ReadonlyArray<{ term: string; frequency: number }>): {
  indices: number[];
  values: number[];
} {
  const weights = new Map<number, number>();
  for (const { term, frequency } of terms) {
    const dimension = termDimension(term);
    weights.set(dimension, (weights.get(dimension) ?? 0) + frequency);
  }
  const indices = [...weights.keys()].sort((a, b) => a - b);
  return { indices, values: indices.map((index) => weights.get(index)!) };
}

/** Qdrant's conditional upserts (`update_filter`) exist from server 1.16.0. */
export function supportsConditionalUpdate(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map((part) => Number.parseInt(part, 10));
  return major > 1 || (major === 1 && minor >= 16);
}
