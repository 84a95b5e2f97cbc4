import type { ChunkingConfig } from '../config/config-schema.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
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

type CountTokens = (text: string) => number;
const tokenizers = new Map<string, Promise<CountTokens>>();

/**
 * Token counts come from gpt-tokenizer (an optional dependency, loaded once per encoding): the
 * same byte-pair encodings OpenAI's models use, so a chunk of 256 tokens is 256 to the model.
 */
function loadTokenizer(encoding: ChunkingConfig['encoding']): Promise<CountTokens> {
  let loading = tokenizers.get(encoding);
  if (!loading) {
    loading = import(`gpt-tokenizer/encoding/${encoding}`).then(
      (module: { encode(text: string, options: { disallowedSpecial: Set<string> }): number[] }) => {
        // Text that spells a special token (<|endoftext|>) is counted as text, never refused.
        const none = new Set<string>();
        return (text: string) => module.encode(text, { disallowedSpecial: none }).length;
      },
      (error: Error) => {
        tokenizers.delete(encoding);
        throw new VectorsyncError(
          ErrorCode.ConfigInvalid,
          `chunking.unit "tokens" needs the gpt-tokenizer package (npm install gpt-tokenizer): ${error.message}`,
        );
      },
    );
    tokenizers.set(encoding, loading);
  }
  return loading;
}

export async function createChunker(config: ChunkingConfig): Promise<Chunker> {
  const measure = config.unit === 'tokens' ? await loadTokenizer(config.encoding) : undefined;
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
