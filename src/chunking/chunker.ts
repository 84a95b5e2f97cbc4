import type { ChunkingConfig } from '../config/config-schema.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import { loadTokenizer } from '../pipeline/token-counter.js';
import { splitText, type TextChunk } from './text-splitter.js';

/** A collection's splitter, ready to run synchronously (a tokenizer is loaded beforehand). */
export interface Chunker {
  readonly config: ChunkingConfig;
  split(text: string): TextChunk[];
}

/** The size a config means when it names none: 1,000 characters or 256 tokens. */
export function chunkSize(config: ChunkingConfig): number {
  return config.size ?? (config.unit === 'tokens' ? 256 : 1000);
}

export async function createChunker(config: ChunkingConfig): Promise<Chunker> {
  const measure =
    config.unit === 'tokens' ? await loadTokenizer(config.encoding, 'chunking.unit "tokens"') : undefined;
  const size = chunkSize(config);
  return {
    config,
    split(text) {
      const chunks = splitText(text, {
        splitter: config.splitter,
        size,
        overlap: config.overlap,
        ...(config.separators ? { separators: config.separators } : {}),
        ...(measure ? { measure } : {}),
      });
      if (chunks.length > config.maxChunks) {
        throw new VectorsyncError(
          ErrorCode.ChunkLimitExceeded,
          `the text (${text.length} characters) splits into ${chunks.length} chunks, more than chunking.maxChunks (${config.maxChunks})`,
          { details: { chunks: chunks.length, maxChunks: config.maxChunks } },
        );
      }
      return chunks;
    },
  };
}
