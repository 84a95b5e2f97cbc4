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
  /**
   * A chunked collection's pieces of `text` (src/chunking), each embedded on its own; absent
   * otherwise. Chunk identity is (collection, tenant, id, ordinal).
   */
  chunks?: DocumentChunk[];
}

export interface DocumentChunk {
  /** 0, 1, … in text order. */
  ordinal: number;
  /** `text.slice(start, end)` of the document's text. */
  start: number;
  end: number;
  text: string;
  /** Headings above the chunk (markdown), embedded with it. */
  context?: string;
  /** Hash of what is embedded (context and text, model, dimensions): unchanged, not re-embedded. */
  contentHash: string;
}

export interface EmbeddedChunk extends DocumentChunk {
  vector: Float32Array;
}

export interface EmbeddedDocument extends IndexDocument {
  /** A chunked document's: the normalised mean of its chunks' vectors. */
  vector: Float32Array;
  chunks?: EmbeddedChunk[];
}

/** What a chunk's vector is computed from. */
export function chunkEmbeddingInput(chunk: Pick<DocumentChunk, 'text' | 'context'>): string {
  return chunk.context ? `${chunk.context}\n\n${chunk.text}` : chunk.text;
}

/** What is embedded for a document, by content hash: its text, or each chunk's input when chunked. */
export function embeddingInputs(document: IndexDocument): Array<{ hash: string; text: string }> {
  return document.chunks
    ? document.chunks.map((chunk) => ({ hash: chunk.contentHash, text: chunkEmbeddingInput(chunk) }))
    : [{ hash: document.contentHash, text: document.text }];
}
