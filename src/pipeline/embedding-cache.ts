import type { SqlExecutor } from '../db/database.js';

/** Vectors by content hash. The hash already covers model and dimensions. */
export interface EmbeddingCache {
  getMany(hashes: readonly string[]): Promise<Map<string, Float32Array>>;
  putMany(entries: ReadonlyArray<{ hash: string; vector: Float32Array }>): Promise<void>;
}

/** Bounded LRU in process memory. */
export class MemoryEmbeddingCache implements EmbeddingCache {
  private readonly entries = new Map<string, Float32Array>();

  constructor(private readonly maxEntries = 50_000) {}

  async getMany(hashes: readonly string[]): Promise<Map<string, Float32Array>> {
    const found = new Map<string, Float32Array>();
    for (const hash of hashes) {
      const vector = this.entries.get(hash);
      if (vector) {
        // Re-insert to mark as recently used.
        this.entries.delete(hash);
        this.entries.set(hash, vector);
        found.set(hash, vector);
      }
    }
    return found;
  }

  async putMany(entries: ReadonlyArray<{ hash: string; vector: Float32Array }>): Promise<void> {
    for (const { hash, vector } of entries) {
      this.entries.delete(hash);
      this.entries.set(hash, vector);
    }
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}

/** Durable cache in vectorsync.embedding_cache, fronted by a memory LRU. */
export class PostgresEmbeddingCache implements EmbeddingCache {
  private readonly memory: MemoryEmbeddingCache;

  constructor(
    private readonly db: SqlExecutor,
    private readonly model: string,
    private readonly dimensions: number,
    memoryEntries = 10_000,
  ) {
    this.memory = new MemoryEmbeddingCache(memoryEntries);
  }

  async getMany(hashes: readonly string[]): Promise<Map<string, Float32Array>> {
    const found = await this.memory.getMany(hashes);
    const missing = hashes.filter((hash) => !found.has(hash));
    if (missing.length === 0) return found;
    const result = await this.db.query<{ content_hash: string; vector: Buffer | Uint8Array }>(
      'SELECT content_hash, vector FROM vectorsync.embedding_cache WHERE content_hash = ANY($1::text[]) AND dimensions = $2',
      [missing, this.dimensions],
    );
    const fromDb: Array<{ hash: string; vector: Float32Array }> = [];
    for (const row of result.rows) {
      const vector = decodeVector(row.vector);
      if (vector.length !== this.dimensions) continue;
      found.set(row.content_hash, vector);
      fromDb.push({ hash: row.content_hash, vector });
    }
    await this.memory.putMany(fromDb);
    return found;
  }

  async putMany(entries: ReadonlyArray<{ hash: string; vector: Float32Array }>): Promise<void> {
    if (entries.length === 0) return;
    await this.memory.putMany(entries);
    await this.db.query(
      `INSERT INTO vectorsync.embedding_cache (content_hash, model, dimensions, vector)
       SELECT h, $3, $4, v FROM unnest($1::text[], $2::bytea[]) AS u(h, v)
       ON CONFLICT (content_hash) DO NOTHING`,
      [
        entries.map((entry) => entry.hash),
        entries.map((entry) => encodeVector(entry.vector)),
        this.model,
        this.dimensions,
      ],
    );
  }
}

export class NoEmbeddingCache implements EmbeddingCache {
  async getMany(): Promise<Map<string, Float32Array>> {
    return new Map();
  }
  async putMany(): Promise<void> {}
}

function encodeVector(vector: Float32Array): Buffer {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
}

function decodeVector(bytes: Buffer | Uint8Array): Float32Array {
  // Copy: the driver's buffer may be a view into a larger, reused allocation.
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Float32Array(copy.buffer);
}
