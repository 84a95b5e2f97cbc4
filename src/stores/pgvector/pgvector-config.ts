import type { StoreConfig } from '../../config/config-schema.js';

export type PgvectorStoreConfig = Extract<StoreConfig, { provider: 'pgvector' }>;

export interface HnswParams {
  m: number;
  efConstruction: number;
}

export function hnswParams(spec: { params: Record<string, unknown> }, fallback: HnswParams): HnswParams {
  const m = spec.params.m;
  const efConstruction = spec.params.efConstruction;
  return {
    m: typeof m === 'number' ? m : fallback.m,
    efConstruction: typeof efConstruction === 'number' ? efConstruction : fallback.efConstruction,
  };
}

/** The pgvector type of an index version's vectors. */
export type PgvectorVectorType = 'vector' | 'halfvec';

/**
 * Read from the version's recorded params, never from the config: a version keeps the type it
 * was built with until a re-embed replaces it. Absent means `vector` (versions built before the
 * option existed).
 */
export function pgvectorVectorType(spec: { params: Record<string, unknown> }): PgvectorVectorType {
  return spec.params.vectorType === 'halfvec' ? 'halfvec' : 'vector';
}

/**
 * Session settings of every dense search (transaction-local), in one place so that searches and
 * index recall checks (src/indexops) run with the same ones.
 */
export function pgvectorSearchSettings(config: PgvectorStoreConfig): Array<[string, string]> {
  return [
    ['hnsw.ef_search', String(config.hnsw.efSearch)],
    ['hnsw.iterative_scan', config.iterativeScan],
    ['hnsw.max_scan_tuples', String(config.maxScanTuples)],
    ['ivfflat.probes', String(config.ivfflat.probes)],
    // IVFFlat knows only relaxed ordering; results are re-sorted in the application anyway.
    ['ivfflat.iterative_scan', config.iterativeScan === 'off' ? 'off' : 'relaxed_order'],
  ];
}

/** Physical names derived from an index's location; one place so DDL and queries agree. */
export function pgvectorNames(location: string) {
  return {
    table: `"vectorsync"."${location}"`,
    tombstones: `"vectorsync"."${location}_tomb"`,
    hnswIndexName: `${location}_hnsw`,
    hnswIndex: `"vectorsync"."${location}_hnsw"`,
    tenantIndexName: `${location}_tenant`,
  };
}

/**
 * pgvector's text input, written fast: each component as an integer times 1e-8 (strtof reads
 * "123e-8"). Integer-to-string is several times faster than float-to-string in V8, and the
 * text is half as long for the server to parse. The rounding (5e-9 absolute) is far below
 * float32 precision for the normalised vectors embedders return; larger values, which would
 * overflow the integer scale, are written exactly instead.
 */
export function vectorLiteral(vector: Float32Array): string {
  const scaled = new Int32Array(vector.length);
  for (let i = 0; i < vector.length; i++) {
    const value = vector[i]!;
    if (!(value > -20 && value < 20)) return `[${Array.from(vector).join(',')}]`;
    scaled[i] = Math.round(value * 1e8);
  }
  return `[${scaled.join('e-8,')}e-8]`;
}
