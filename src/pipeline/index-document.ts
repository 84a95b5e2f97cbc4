/**
 * The unit that flows from capture to store. `id` is the source primary key as text and,
 * with collection and tenant, forms the canonical key; no other id is ever invented.
 */
export interface IndexDocument {
  collection: string;
  tenant: string;
  id: string;
  /** The source version the document was built from (see ARCHITECTURE.md, "Version"). */
  version: number;
  /** Hash of (embedding input, embedder model, dimensions): unchanged hash, no re-embedding. */
  contentHash: string;
  text: string;
  /** Text that feeds keyword search, from the collection's keywordFields. */
  keywords: string;
  /** The keyword text analysed: term → frequency, and the length in terms (for BM25). */
  terms: Record<string, number>;
  termCount: number;
  payload: Record<string, unknown>;
}

export interface EmbeddedDocument extends IndexDocument {
  vector: Float32Array;
}
