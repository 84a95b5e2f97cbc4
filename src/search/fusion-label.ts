import type { SearchSettings } from '../config/config-schema.js';
import type { VectorStore } from '../stores/vector-store.js';

/**
 * The name of the fusion a hybrid search over this store uses with these settings, as `explain`
 * reports it: the store's own (e.g. Qdrant's RRF) when it fuses natively, else vectorsync's
 * RRF or weighted score fusion. One function, so what the demo says is what search does.
 */
export function hybridFusionLabel(
  store: Pick<VectorStore, 'kind' | 'capabilities' | 'hybridSearch'>,
  settings: Pick<SearchSettings, 'fusion' | 'rrfK' | 'normalization'>,
): string {
  if (store.capabilities.nativeHybrid && store.hybridSearch) return `${store.kind}-native-rrf`;
  return settings.fusion === 'rrf' ? `rrf(k=${settings.rrfK})` : `weighted(${settings.normalization})`;
}
