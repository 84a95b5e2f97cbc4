import type { Embedder } from '../embedders/embedder.js';
import { coerceError, ErrorCode, VectorsyncError } from '../errors.js';
import type { EmbeddingCache } from './embedding-cache.js';
import { type EmbeddedDocument, embeddingInputs, type IndexDocument } from './index-document.js';

export interface EmbedStats {
  requested: number;
  cached: number;
  embedded: number;
}

/** A vector per text, or the error that kept that text from one. */
export type TextEmbedding = Float32Array | Error;

/** Embeds texts (at most `maxBatchSize` per call), answering for each text. */
export type EmbedTexts = (texts: string[]) => Promise<TextEmbedding[]>;

/** One document of embedEachDocument: embedded, or failed with the error of its text. */
export type DocumentEmbedding = { document: EmbeddedDocument } | { document: IndexDocument; error: Error };

/**
 * Attaches a vector to every document. Identical texts in one batch are embedded once,
 * texts seen before come from the cache, and the rest go to the embedder in batches of
 * its maximum size. Dimensions are checked here, whatever the embedder claims. Throws the
 * first failure (embedEachDocument answers per document instead).
 */
export async function embedDocuments(
  documents: readonly IndexDocument[],
  embedder: Embedder,
  cache: EmbeddingCache,
  options: { signal?: AbortSignal } = {},
): Promise<{ documents: EmbeddedDocument[]; stats: EmbedStats }> {
  const { results, stats } = await embedEachDocument(documents, embedder, cache, async (texts) =>
    embedder.embed(texts, options),
  );
  const embedded: EmbeddedDocument[] = [];
  for (const result of results) {
    if ('error' in result) throw result.error;
    embedded.push(result.document);
  }
  return { documents: embedded, stats };
}

/**
 * embedDocuments with an outcome per document, in input order: a text that fails (an embedder
 * call that throws, a worker pool that isolates one text, a vector of the wrong size) fails
 * only the documents with that text. A cache that cannot be read throws.
 */
export async function embedEachDocument(
  documents: readonly IndexDocument[],
  embedder: Pick<Embedder, 'modelId' | 'dimensions' | 'maxBatchSize'>,
  cache: EmbeddingCache,
  embedTexts: EmbedTexts,
): Promise<{ results: DocumentEmbedding[]; stats: EmbedStats }> {
  // What is embedded: each document's text, or each chunk of a chunked one, by content hash.
  const textByHash = new Map<string, string>();
  for (const document of documents)
    for (const { hash, text } of embeddingInputs(document)) textByHash.set(hash, text);
  const uniqueHashes = [...textByHash.keys()];
  const vectors = await cache.getMany(uniqueHashes);
  const cached = vectors.size;
  const failures = new Map<string, Error>();
  const missing = uniqueHashes.filter((hash) => !vectors.has(hash));

  for (let start = 0; start < missing.length; start += embedder.maxBatchSize) {
    const hashes = missing.slice(start, start + embedder.maxBatchSize);
    let embedded: TextEmbedding[];
    try {
      embedded = await embedTexts(hashes.map((hash) => textByHash.get(hash)!));
      if (embedded.length !== hashes.length) {
        throw new VectorsyncError(
          ErrorCode.EmbedderFailed,
          `embedder ${embedder.modelId} returned ${embedded.length} vectors for ${hashes.length} texts`,
        );
      }
    } catch (error) {
      for (const hash of hashes) failures.set(hash, coerceError(error));
      continue;
    }
    const fresh: Array<{ hash: string; vector: Float32Array }> = [];
    hashes.forEach((hash, index) => {
      const result = embedded[index]!;
      try {
        if (result instanceof Error) throw result;
        fresh.push({ hash, vector: assertDimensions(result, embedder) });
      } catch (error) {
        failures.set(hash, coerceError(error));
      }
    });
    for (const { hash, vector } of fresh) vectors.set(hash, vector);
    if (fresh.length > 0) await cache.putMany(fresh);
  }

  const results = documents.map((document): DocumentEmbedding => {
    if (!document.chunks) {
      const error = failures.get(document.contentHash);
      return error
        ? { document, error }
        : {
            document: {
              ...(document as Omit<IndexDocument, 'chunks'>),
              vector: vectors.get(document.contentHash)!,
            },
          };
    }
    // A document is embedded whole or not at all: one failed chunk fails it.
    const failed = document.chunks.find((chunk) => failures.has(chunk.contentHash));
    if (failed) return { document, error: failures.get(failed.contentHash)! };
    const chunks = document.chunks.map((chunk) => ({ ...chunk, vector: vectors.get(chunk.contentHash)! }));
    return { document: { ...document, chunks, vector: meanDirection(chunks.map((chunk) => chunk.vector)) } };
  });
  return {
    results,
    stats: {
      // Texts asked for, repeats included: a document, or each chunk of a chunked one.
      requested: documents.reduce((sum, document) => sum + (document.chunks?.length ?? 1), 0),
      cached,
      embedded: missing.length - failures.size,
    },
  };
}

/** The normalised mean of unit vectors: a chunked document's one vector. */
export function meanDirection(vectors: readonly Float32Array[]): Float32Array {
  const mean = new Float32Array(vectors[0]!.length);
  for (const vector of vectors) for (let i = 0; i < mean.length; i++) mean[i]! += vector[i]!;
  let norm = 0;
  for (let i = 0; i < mean.length; i++) norm += mean[i]! * mean[i]!;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < mean.length; i++) mean[i]! /= norm;
  return mean;
}

function assertDimensions(
  vector: Float32Array,
  embedder: Pick<Embedder, 'modelId' | 'dimensions'>,
): Float32Array {
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
