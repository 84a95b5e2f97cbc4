import type { EmbedderConfig } from '../config/config-schema.js';
import type { Logger } from '../logger.js';
import type { Embedder } from './embedder.js';
import { HashEmbedder } from './hash-embedder.js';
import { OpenAiEmbedder } from './openai-embedder.js';

export function createEmbedder(config: EmbedderConfig, env: NodeJS.ProcessEnv, logger: Logger): Embedder {
  switch (config.provider) {
    case 'hash':
      return new HashEmbedder(config.dimensions);
    case 'openai': {
      const apiKey = env[config.apiKeyEnv] || undefined;
      return new OpenAiEmbedder({ ...config, logger, ...(apiKey ? { apiKey } : {}) });
    }
  }
}
