import type { Embedder } from '../embedders/embedder.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import type { EmbeddingCache } from './embedding-cache.js';
import type { EmbeddedDocument, IndexDocument } from './index-document.js';

export interface EmbedStats {
  requested: number;
  cached: number;
  embedded: number;
}

/**
 * Attaches a vector to every document. Identical texts in one batch are embedded once,
 * texts seen before come from the cache, and the rest go to the embedder in batches of
 * its maximum size. Dimensions are checked here, whatever the embedder claims.
 */
export async function embedDocuments(
  documents: readonly IndexDocument[],
  embedder: Embedder,
  cache: EmbeddingCache,
  options: { signal?: AbortSignal } = {},
): Promise<{ documents: EmbeddedDocument[]; stats: EmbedStats }> {
  const uniqueHashes = [...new Set(documents.map((document) => document.contentHash))];
  const vectors = await cache.getMany(uniqueHashes);
  const cached = vectors.size;
  const textByHash = new Map(documents.map((document) => [document.contentHash, document.text]));
  const missing = uniqueHashes.filter((hash) => !vectors.has(hash));

  for (let start = 0; start < missing.length; start += embedder.maxBatchSize) {
    const hashes = missing.slice(start, start + embedder.maxBatchSize);
    const embedded = await embedder.embed(
      hashes.map((hash) => textByHash.get(hash)!),
      options,
    );
    if (embedded.length !== hashes.length) {
      throw new VectorsyncError(
        ErrorCode.EmbedderFailed,
        `embedder ${embedder.modelId} returned ${embedded.length} vectors for ${hashes.length} texts`,
      );
    }
    const fresh = hashes.map((hash, index) => ({
      hash,
      vector: assertDimensions(embedded[index]!, embedder),
    }));
    for (const { hash, vector } of fresh) vectors.set(hash, vector);
    await cache.putMany(fresh);
  }

  return {
    documents: documents.map((document) => ({ ...document, vector: vectors.get(document.contentHash)! })),
    stats: { requested: documents.length, cached, embedded: missing.length },
  };
}

function assertDimensions(vector: Float32Array, embedder: Embedder): Float32Array {
  if (vector.length !== embedder.dimensions) {
    throw new VectorsyncError(
      ErrorCode.DimensionMismatch,
      `embedder ${embedder.modelId} produced a ${vector.length}-dimensional vector; expected ${embedder.dimensions}`,
      { details: { model: embedder.modelId, expected: embedder.dimensions, received: vector.length } },
    );
  }
  for (let i = 0; i < vector.length; i++) {
    if (!Number.isFinite(vector[i]!)) {
      throw new VectorsyncError(
        ErrorCode.EmbedderFailed,
        `embedder ${embedder.modelId} produced a vector with a non-finite value at ${i}`,
      );
    }
  }
  return vector;
}
