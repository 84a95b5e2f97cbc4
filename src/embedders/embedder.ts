/** What one embed() call cost, as the provider billed it (or as estimated, when it did not say). */
export interface EmbedUsage {
  requests: number;
  tokens: number;
  /** The answer carried no token count: `tokens` is our estimate. */
  estimated: boolean;
  /** The count is exact: the provider's, or a real tokenizer's (not the characters/4 approximation). */
  exact: boolean;
}

export interface EmbedOptions {
  signal?: AbortSignal;
  /** Called once per request the call made, with what it cost (remote providers only). */
  onUsage?: (usage: EmbedUsage) => void;
}

/**
 * Turns texts into vectors. Implementations are stateless with respect to documents; the
 * pipeline batches, caches by content hash and checks dimensions around them.
 */
export interface Embedder {
  /** Identifies the model and its version; recorded with every index built from it. */
  readonly modelId: string;
  readonly dimensions: number;
  /** The most texts one embed() call may receive. */
  readonly maxBatchSize: number;
  embed(texts: readonly string[], options?: EmbedOptions): Promise<Float32Array[]>;
  /** Loads models or files ahead of the first embed() (so progress can be shown up front). */
  init?(): Promise<void>;
  close?(): Promise<void>;
}

export function l2Normalise(vector: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += vector[i]! * vector[i]!;
  if (sum === 0) return vector;
  const scale = 1 / Math.sqrt(sum);
  for (let i = 0; i < vector.length; i++) vector[i] = vector[i]! * scale;
  return vector;
}
