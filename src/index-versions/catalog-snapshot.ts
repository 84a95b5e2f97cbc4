import type { EmbeddingProfile } from '../embedders/embedding-profile.js';
import type { VectorsyncError } from '../errors.js';
import type { IndexSpec, VectorStore } from '../stores/vector-store.js';
import type { IndexRecord } from './index-catalog.js';

/** A live index version of a collection with the spec its store needs. */
export interface IndexTarget {
  readonly record: IndexRecord;
  readonly spec: IndexSpec;
  /** The store holding this index (during a store migration, targets live in different stores). */
  readonly store: VectorStore;
  readonly storeName: string;
  /**
   * The embedder that built this version, which writes and queries of it must use; or why this
   * process cannot make it (a version recorded before schema 9 for a model the config no longer
   * names): its writes and semantic searches then fail with that error.
   */
  readonly embedding: EmbeddingProfile | VectorsyncError;
}

/** The embedding profile of a version, or the error that says why this process has none. */
export function embeddingOf(target: IndexTarget): EmbeddingProfile {
  if (target.embedding instanceof Error) throw target.embedding;
  return target.embedding;
}

/**
 * The live index versions of every collection as one frozen value, read from
 * `vectorsync.indexes` in one query. A reload builds a whole new snapshot and swaps it in, so a
 * list once read never changes under its reader and no reader sees one half updated.
 */
export class CatalogSnapshot {
  private constructor(private readonly byCollection: ReadonlyMap<string, readonly IndexTarget[]>) {}

  static readonly empty = new CatalogSnapshot(new Map());

  static of(targets: readonly IndexTarget[]): CatalogSnapshot {
    const grouped = new Map<string, IndexTarget[]>();
    for (const target of targets) {
      Object.freeze(target);
      const list = grouped.get(target.record.collection) ?? [];
      list.push(target);
      grouped.set(target.record.collection, list);
    }
    for (const list of grouped.values()) Object.freeze(list);
    return new CatalogSnapshot(grouped);
  }

  /** The collection's live versions (active and building), oldest first; empty when none. */
  targetsOf(collection: string): readonly IndexTarget[] {
    return this.byCollection.get(collection) ?? NONE;
  }
}

const NONE: readonly IndexTarget[] = Object.freeze([]);
