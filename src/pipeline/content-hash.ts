import { createHash } from 'node:crypto';

/** Hash of what determines a vector: the text, the model and the output dimensions. */
export function contentHash(text: string, modelId: string, dimensions: number): string {
  return createHash('sha256').update(`${modelId}\u0000${dimensions}\u0000${text}`).digest('hex').slice(0, 32);
}
