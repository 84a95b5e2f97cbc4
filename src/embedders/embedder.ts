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
  embed(texts: readonly string[], options?: { signal?: AbortSignal }): Promise<Float32Array[]>;
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
