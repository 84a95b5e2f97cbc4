import type { EmbedderConfig } from '../config/config-schema.js';
import type { Logger } from '../logger.js';
import type { Embedder } from './embedder.js';
import { HashEmbedder } from './hash-embedder.js';
import { OpenAiEmbedder } from './openai-embedder.js';
import { TransformersEmbedder } from './transformers-embedder.js';
import { WinkEmbedder } from './wink-embedder.js';

export type EmbedderProgress = (embedder: string, phase: string, done: number, total: number) => void;

export function createEmbedder(
  name: string,
  config: EmbedderConfig,
  env: NodeJS.ProcessEnv,
  logger: Logger,
  onProgress?: EmbedderProgress,
): Embedder {
  switch (config.provider) {
    case 'hash':
      return new HashEmbedder(config.dimensions);
    case 'openai': {
      const apiKey = env[config.apiKeyEnv] || undefined;
      return new OpenAiEmbedder({ ...config, logger, ...(apiKey ? { apiKey } : {}) });
    }
    case 'wink':
      return new WinkEmbedder({
        sifA: config.sifA,
        removeCommonComponent: config.removeCommonComponent,
        ...(config.cacheDir ? { cacheDir: config.cacheDir } : {}),
        ...(onProgress
          ? {
              onProgress: (phase: string, done: number, total: number) =>
                onProgress(name, phase, done, total),
            }
          : {}),
      });
    case 'transformers':
      return new TransformersEmbedder({
        ...config,
        ...(config.modelDir ? { modelDir: config.modelDir } : {}),
      });
  }
}
