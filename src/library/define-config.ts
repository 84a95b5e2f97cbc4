import type { VectorsyncConfigInput } from './vectorsync-api.js';

/**
 * Types a config written in code, e.g. `vectorsync.config.mjs`:
 * `export default defineConfig({ collections: { … }, stores: { … }, embedders: { … } })`.
 * Returns its argument unchanged; validation happens when it is opened.
 */
export function defineConfig(config: VectorsyncConfigInput): VectorsyncConfigInput {
  return config;
}
