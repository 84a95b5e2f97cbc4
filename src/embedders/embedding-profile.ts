import { canonicalJson } from '../config/canonical-json.js';
import type { EmbedderConfig } from '../config/config-schema.js';
import type { SqlExecutor } from '../db/database.js';
import type { Logger } from '../logger.js';
import {
  type EmbeddingCache,
  MemoryEmbeddingCache,
  NoEmbeddingCache,
  PostgresEmbeddingCache,
} from '../pipeline/embedding-cache.js';
import { createEmbedder, type EmbedderProgress } from './create-embedder.js';
import type { Embedder } from './embedder.js';

/**
 * One way of turning text into vectors: an embedder config, the embedder made from it and its
 * cache. Each index version has its own (the one that built it), so during a model change the
 * old version keeps being written and searched with the old model and the new one with the new.
 */
export interface EmbeddingProfile {
  /** The config as canonical JSON: equal configs share one profile. */
  readonly key: string;
  readonly config: EmbedderConfig;
  readonly embedder: Embedder;
  readonly cache: EmbeddingCache;
}

export function embeddingProfileKey(config: EmbedderConfig): string {
  return canonicalJson(config);
}

/**
 * The profiles of one process, made on first use and shared: the configured embedders and
 * those that recorded index versions name.
 */
export class EmbeddingProfiles {
  private readonly byKey = new Map<string, EmbeddingProfile>();

  constructor(
    private readonly options: {
      db: SqlExecutor;
      env: NodeJS.ProcessEnv;
      logger: Logger;
      onProgress?: EmbedderProgress;
    },
  ) {}

  /** The profile of a config; `name` labels its logs and progress (a key of `embedders`, or an index). */
  of(config: EmbedderConfig, name: string): EmbeddingProfile {
    const key = embeddingProfileKey(config);
    const existing = this.byKey.get(key);
    if (existing) return existing;
    const embedder = createEmbedder(
      name,
      config,
      this.options.env,
      this.options.logger.child({ embedder: name }),
      this.options.onProgress,
    );
    const cache =
      config.cache === 'postgres'
        ? new PostgresEmbeddingCache(this.options.db, embedder.modelId, embedder.dimensions)
        : config.cache === 'memory'
          ? new MemoryEmbeddingCache()
          : new NoEmbeddingCache();
    const profile: EmbeddingProfile = Object.freeze({ key, config, embedder, cache });
    this.byKey.set(key, profile);
    return profile;
  }

  /** Every profile made so far (the configured embedders and those of recorded versions in use). */
  all(): EmbeddingProfile[] {
    return [...this.byKey.values()];
  }

  async close(): Promise<void> {
    for (const profile of this.byKey.values()) await profile.embedder.close?.();
  }
}
