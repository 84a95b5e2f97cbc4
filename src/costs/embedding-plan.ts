import type { ModelPrice } from '../config/config-schema.js';
import type { EmbeddingProfile } from '../embedders/embedding-profile.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import type { EmbeddingCache } from '../pipeline/embedding-cache.js';
import { embeddingInputs } from '../pipeline/index-document.js';
import { sourcePages } from '../pipeline/source-pages.js';
import { readSourceRows } from '../pipeline/source-reader.js';
import { approximateTokenCounter } from '../pipeline/token-counter.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { costOf, priceOf } from './embedding-prices.js';
import { isBilled } from './metered-embedding.js';

/** What embedding a collection's source would take with one embedding profile, before any is spent. */
export interface EmbeddingPlan {
  collection: string;
  model: string;
  /** Source rows read. */
  rows: number;
  /** Rows that cannot be built into a document (no text, no tenant): nothing to embed. */
  unbuildable: number;
  /** Texts the documents need: one per document, or one per chunk; repeats included. */
  inputs: number;
  /** Distinct texts among them (identical texts are embedded once). */
  distinct: number;
  /** Distinct texts the embedding cache already has. */
  cached: number;
  /** What would actually be sent to the embedder. */
  toEmbed: number;
  tokens: number;
  /** Tokens counted by the model's real tokenizer (false: the characters/4 approximation). */
  tokensExact: boolean;
  /** A provider bills this model (a local embedder costs nothing). */
  billed: boolean;
  price: ModelPrice | null;
  /** At the synchronous price; null when billed and no price is configured. */
  costUsd: number | null;
  /** Through the batch lane (the batch price, or the synchronous one when none is configured). */
  batchCostUsd: number | null;
}

export interface PlanOptions {
  pageSize?: number;
  signal?: AbortSignal;
  onProgress?: (rows: number) => void;
  /** Receives each page's texts to embed (exact input, by content hash), e.g. for the batch lane. */
  onTexts?: (texts: Array<{ hash: string; text: string }>) => void;
  /** Instead of the profile's cache (a dry run before `setup` has created the cache table). */
  cache?: EmbeddingCache;
}

/**
 * Reads every source row of a collection, builds its documents as a fill would (with the
 * profile's embedder identity, so hashes match the cache) and counts what is missing from the
 * cache, with its tokens and cost. Nothing is embedded or written.
 */
export async function planEmbedding(
  runtime: VectorsyncRuntime,
  collectionName: string,
  profile: EmbeddingProfile,
  options: PlanOptions = {},
): Promise<EmbeddingPlan> {
  const collection = runtime.collection(collectionName);
  const { embedder } = profile;
  const billed = isBilled(embedder);
  // Loads the tokenizer a billed embedder counts with (without it, estimates are approximate).
  await embedder.init?.();
  const seen = new Set<string>();
  const plan: EmbeddingPlan = {
    collection: collectionName,
    model: embedder.modelId,
    rows: 0,
    unbuildable: 0,
    inputs: 0,
    distinct: 0,
    cached: 0,
    toEmbed: 0,
    tokens: 0,
    tokensExact: true,
    billed,
    price: null,
    costUsd: null,
    batchCostUsd: null,
  };
  for await (const keys of sourcePages(runtime.db, collection.definition, options.pageSize ?? 500)) {
    if (options.signal?.aborted) throw new VectorsyncError(ErrorCode.Aborted, 'the estimate was interrupted');
    const rows = await readSourceRows(
      runtime.db,
      collection.definition,
      keys.map((key) => key.id),
    );
    const built = await runtime.documents.build(collection, [...rows.values()], profile);
    const fresh = new Map<string, string>();
    for (const result of built) {
      if (result instanceof Error) {
        plan.unbuildable++;
        continue;
      }
      const { document } = result;
      const inputs = embeddingInputs(document);
      plan.inputs += inputs.length;
      for (const input of inputs) {
        if (seen.has(input.hash)) continue;
        seen.add(input.hash);
        fresh.set(input.hash, input.text);
      }
    }
    plan.rows += rows.size;
    plan.distinct += fresh.size;
    const cached = await (options.cache ?? profile.cache).getMany([...fresh.keys()]);
    plan.cached += cached.size;
    const missing = [...fresh].filter(([hash]) => !cached.has(hash));
    plan.toEmbed += missing.length;
    const texts = missing.map(([, text]) => text);
    if (billed) {
      const estimate = embedder.estimateTokens(texts);
      plan.tokens += estimate.tokens;
      plan.tokensExact &&= estimate.exact;
    } else {
      for (const text of texts) plan.tokens += approximateTokenCounter.count(text);
      plan.tokensExact = false;
    }
    options.onTexts?.(missing.map(([hash, text]) => ({ hash, text })));
    options.onProgress?.(plan.rows);
  }
  const price = billed ? priceOf(runtime.config.costs, embedder.modelId) : undefined;
  plan.price = price ?? null;
  plan.costUsd = billed ? costOf(price, plan.tokens, 'sync') : 0;
  plan.batchCostUsd = billed ? costOf(price, plan.tokens, 'batch') : 0;
  return plan;
}
