/**
 * The NOTIFY channel on which every change of `vectorsync.indexes` is announced, by a statement
 * trigger (migration 000010), at commit. The index watcher of every process listens on it.
 */
export const CATALOG_CHANNEL = 'vectorsync_indexes';
