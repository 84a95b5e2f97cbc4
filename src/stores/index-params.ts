import type { CollectionConfig, StoreConfig } from '../config/config-schema.js';

/**
 * What an index version is built with, recorded in vectorsync.indexes.params: the store's build
 * parameters and anything written into the records that a query must agree with (the
 * analyzer; for Qdrant the BM25 k1, b and average length baked into its sparse vectors).
 */
export function indexParamsFor(store: StoreConfig, collection: CollectionConfig): Record<string, unknown> {
  // How the text is cut is part of what the records are: another splitter is another version.
  const chunking = collection.chunking ? { chunking: collection.chunking } : {};
  return { ...storeParams(store, collection), ...chunking };
}

/** Whether an index version holds chunks (its params record a chunking). */
export function isChunked(spec: { params: Record<string, unknown> }): boolean {
  return spec.params.chunking !== undefined && spec.params.chunking !== null;
}

function storeParams(store: StoreConfig, collection: CollectionConfig): Record<string, unknown> {
  const analyzer = collection.analyzer;
  switch (store.provider) {
    case 'pgvector':
      return {
        m: store.hnsw.m,
        efConstruction: store.hnsw.efConstruction,
        analyzer,
        // Recorded only when not the default, so versions built before the option keep their shape.
        ...(store.vectorType === 'halfvec' ? { vectorType: 'halfvec' } : {}),
      };
    case 'qdrant':
      return {
        analyzer,
        k1: collection.search.bm25.k1,
        b: collection.search.bm25.b,
        avgDocLength: store.bm25AvgDocLength,
      };
    default:
      return { analyzer };
  }
}
