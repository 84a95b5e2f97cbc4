import type { Embedder } from './embedder.js';
import { l2Normalise } from './embedder.js';

/**
 * Deterministic offline embedder: signed feature hashing of words and character trigrams,
 * L2-normalised. No semantics beyond shared words and spellings, but fast, dependency-free
 * and identical on every machine, which is what tests and benchmarks need.
 */
export class HashEmbedder implements Embedder {
  readonly modelId = 'hash-v1';
  readonly maxBatchSize = 10_000;

  constructor(readonly dimensions = 256) {}

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    return texts.map((text) => this.embedOne(text));
  }

  embedOne(text: string): Float32Array {
    const vector = new Float32Array(this.dimensions);
    const words = tokenize(text);
    if (words.length === 0) {
      // Cosine distance to a zero vector is undefined; empty text gets one fixed direction.
      this.add(vector, 'empty:', 1);
      return l2Normalise(vector);
    }
    for (const word of words) {
      this.add(vector, `w:${word}`, 1);
      const padded = `^${word}$`;
      for (let i = 0; i + 3 <= padded.length; i++) this.add(vector, `c:${padded.slice(i, i + 3)}`, 0.35);
    }
    return l2Normalise(vector);
  }

  private add(vector: Float32Array, feature: string, weight: number): void {
    const hash = fnv1a(feature);
    const slot = hash % this.dimensions;
    // The sign bit comes from a second hash so colliding features cancel rather than pile up.
    const sign = fnv1a(feature, 0x9e3779b9) & 1 ? 1 : -1;
    vector[slot] = vector[slot]! + sign * weight;
  }
}

function tokenize(text: string): string[] {
  return (
    text
      .normalize('NFKD')
      .replace(/\p{M}+/gu, '')
      .toLowerCase()
      .match(/[\p{L}\p{N}]+/gu) ?? []
  );
}

/** 32-bit FNV-1a over UTF-16 code units; `seed` replaces the offset basis for a second hash. */
export function fnv1a(text: string, seed = 0x811c9dc5): number {
  let hash = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
