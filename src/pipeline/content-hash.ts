import { hexDigest } from './hex-digest.js';

/** Hash of what determines a vector: the text, the model and the output dimensions. */
export function contentHash(text: string, modelId: string, dimensions: number): string {
  return hexDigest('sha256', `${modelId}\u0000${dimensions}\u0000${text}`).slice(0, 32);
}
