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

/** pgvector's text input format; 9 significant digits round-trip any float32 exactly. */
export function vectorLiteral(vector: Float32Array): string {
  let text = '[';
  for (let i = 0; i < vector.length; i++) {
    if (i > 0) text += ',';
    text += vector[i];
  }
  return `${text}]`;
}
