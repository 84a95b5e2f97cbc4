import type { Schemas } from '@qdrant/js-client-rest';
import type { PayloadField } from '../../config/collection-definition.js';
import { canonicalUuid } from '../../pipeline/canonical-key.js';
import type { EmbeddedDocument } from '../../pipeline/index-document.js';
import { idBucket } from '../id-bucket.js';
import type { Bm25Params, IndexSpec } from '../vector-store.js';
import {
  bm25SparseVector,
  DENSE_VECTOR,
  META,
  PAYLOAD_KEY,
  payloadKey,
  type QdrantStoreConfig,
  SPARSE_VECTOR,
} from './qdrant-config.js';

/**
 * The request bodies the Qdrant store sends, built by pure functions so that
 * test/qdrant-request-schema.test.ts can check each one against Qdrant's documented schema.
 */

export interface IndexParams extends Bm25Params {
  avgDocLength: number;
}

/** BM25 parameters of an index: written into its sparse vectors, so fixed when it was created. */
export function indexParams(spec: IndexSpec, config: QdrantStoreConfig): IndexParams {
  const number = (key: string, fallback: number) => {
    const value = spec.params[key];
    return typeof value === 'number' ? value : fallback;
  };
  return {
    k1: number('k1', 1.2),
    b: number('b', 0.75),
    avgDocLength: number('avgDocLength', config.bm25AvgDocLength),
  };
}

export function createCollectionBody(
  spec: IndexSpec,
  config: QdrantStoreConfig,
): Schemas['CreateCollection'] {
  return {
    vectors: { [DENSE_VECTOR]: { size: spec.dimensions, distance: 'Cosine' } },
    sparse_vectors: { [SPARSE_VECTOR]: { modifier: 'idf' } },
    hnsw_config: { m: config.hnsw.m, ef_construct: config.hnsw.efConstruct, payload_m: config.hnsw.m },
  };
}

/** Payload indexes: tenant (tenant-optimised), the version guard's fields, buckets for scans, and every filter field. */
export function payloadIndexBodies(spec: IndexSpec): Schemas['CreateFieldIndex'][] {
  return [
    { field_name: META.tenant, field_schema: { type: 'keyword', is_tenant: true } },
    { field_name: META.id, field_schema: 'keyword' },
    { field_name: META.version, field_schema: { type: 'integer', lookup: true, range: true } },
    { field_name: META.deleted, field_schema: 'bool' },
    { field_name: META.bucket, field_schema: { type: 'integer', lookup: false, range: true } },
    ...spec.payloadFields.flatMap((field) => {
      const schema = fieldSchema(field);
      return schema ? [{ field_name: payloadKey(field.name), field_schema: schema }] : [];
    }),
  ];
}

function fieldSchema(field: PayloadField): Schemas['PayloadSchemaType'] | undefined {
  switch (field.type) {
    case 'number':
    case 'number[]':
      return 'float';
    case 'boolean':
      return 'bool';
    case 'timestamp':
      return 'datetime';
    case 'json':
      return undefined;
    default:
      return 'keyword';
  }
}

export function pointId(spec: IndexSpec, tenant: string, id: string): string {
  return canonicalUuid({ collection: spec.collection, tenant, id });
}

export function documentPoint(
  spec: IndexSpec,
  document: EmbeddedDocument,
  params: IndexParams,
  fingerprint: string,
): Schemas['PointStruct'] {
  const sparse = bm25SparseVector(document.terms, document.termCount, params);
  return {
    id: pointId(spec, document.tenant, document.id),
    vector: {
      [DENSE_VECTOR]: Array.from(document.vector),
      ...(sparse.indices.length > 0 ? { [SPARSE_VECTOR]: sparse } : {}),
    },
    payload: {
      [META.id]: document.id,
      [META.tenant]: document.tenant,
      [META.version]: document.version,
      [META.hash]: document.contentHash,
      [META.deleted]: false,
      [META.bucket]: idBucket(document.id),
      [META.fingerprint]: fingerprint,
      [PAYLOAD_KEY]: document.payload,
    },
  };
}

/** A deleted record kept for the version guard: no vectors, so no search can return it. */
export function tombstonePoint(
  spec: IndexSpec,
  tenant: string,
  id: string,
  version: number,
): Schemas['PointStruct'] {
  return {
    id: pointId(spec, tenant, id),
    vector: {},
    payload: {
      [META.id]: id,
      [META.tenant]: tenant,
      [META.version]: version,
      [META.deleted]: true,
      [META.bucket]: idBucket(id),
    },
  };
}

/**
 * One upsert whose `update_filter` lets each existing point be replaced only by a newer
 * version of itself: an OR over (this point AND its stored version below the new one, or the
 * same version with other content). New points are inserted regardless (Qdrant's semantics).
 * `inclusive` (deletes) replaces an equal version too: a delete wins a tie.
 */
export function conditionalUpsertBody(
  points: Schemas['PointStruct'][],
  guards: ReadonlyArray<{ version: number; fingerprint: string }>,
  inclusive: boolean,
): Schemas['PointsList'] & { wait: boolean } {
  return {
    wait: true,
    points,
    update_filter: {
      should: points.flatMap((point, index): Schemas['Filter'][] => {
        const { version, fingerprint } = guards[index]!;
        const older: Schemas['Filter'] = {
          must: [
            { has_id: [point.id] },
            { key: META.version, range: inclusive ? { lte: version } : { lt: version } },
          ],
        };
        if (inclusive) return [older];
        const sameVersionChanged: Schemas['Filter'] = {
          must: [
            { has_id: [point.id] },
            { key: META.version, match: { value: version } },
            { key: META.deleted, match: { value: false } },
          ],
          must_not: [{ key: META.fingerprint, match: { value: fingerprint } }],
        };
        return [older, sameVersionChanged];
      }),
    },
  };
}

export function plainUpsertBody(points: Schemas['PointStruct'][]): Schemas['PointsList'] & { wait: boolean } {
  return { wait: true, points };
}

export function retrieveBody(ids: string[]): Schemas['PointRequest'] {
  return {
    ids,
    with_payload: { include: [META.id, META.tenant, META.version, META.deleted, META.fingerprint] },
    with_vector: false,
  };
}

/** Live points of these source ids in any tenant (deletes that do not know the tenant). */
export function pointsOfIdsBody(ids: string[]): Schemas['ScrollRequest'] {
  return {
    filter: { must: [{ key: META.id, match: { any: ids } }] },
    limit: ids.length * 4 + 16,
    with_payload: { include: [META.id, META.tenant, META.version, META.deleted, META.fingerprint] },
    with_vector: false,
  };
}

/** The tombstone points of these ids, whatever tenant they were written under. */
export function tombstonesOfIdsBody(ids: string[]): Schemas['FilterSelector'] & { wait: boolean } {
  return {
    wait: true,
    filter: {
      must: [
        { key: META.id, match: { any: ids } },
        { key: META.deleted, match: { value: true } },
      ],
    },
  };
}

/** Every read path: this tenant's live points, then the collection's filter. */
export function liveFilter(tenant: string | undefined, filter?: Schemas['Filter']): Schemas['Filter'] {
  return {
    must: [
      ...(tenant !== undefined ? [{ key: META.tenant, match: { value: tenant } }] : []),
      ...(filter ? [filter] : []),
    ],
    must_not: [{ key: META.deleted, match: { value: true } }],
  };
}

const hitPayload = { include: [META.id, META.version, PAYLOAD_KEY] };

export function denseQueryBody(
  vector: Float32Array,
  k: number,
  filter: Schemas['Filter'],
  config: QdrantStoreConfig,
): Schemas['QueryRequest'] {
  return {
    query: Array.from(vector),
    using: DENSE_VECTOR,
    filter,
    limit: k,
    params: { hnsw_ef: Math.max(config.hnsw.efSearch, k) },
    with_payload: hitPayload,
    with_vector: false,
  };
}

export function sparseQueryBody(
  sparse: { indices: number[]; values: number[] },
  k: number,
  filter: Schemas['Filter'],
): Schemas['QueryRequest'] {
  return {
    query: sparse,
    using: SPARSE_VECTOR,
    filter,
    limit: k,
    with_payload: hitPayload,
    with_vector: false,
  };
}

/** Qdrant-native hybrid: both candidate lists fused server-side by RRF (store option `hybrid: native`). */
export function hybridQueryBody(
  vector: Float32Array,
  sparse: { indices: number[]; values: number[] },
  candidates: number,
  k: number,
  filter: Schemas['Filter'],
  config: QdrantStoreConfig,
): Schemas['QueryRequest'] {
  return {
    prefetch: [
      {
        query: Array.from(vector),
        using: DENSE_VECTOR,
        filter,
        limit: candidates,
        params: { hnsw_ef: Math.max(config.hnsw.efSearch, candidates) },
      },
      ...(sparse.indices.length > 0
        ? [{ query: sparse, using: SPARSE_VECTOR, filter, limit: candidates }]
        : []),
    ],
    query: { fusion: 'rrf' },
    filter,
    limit: k,
    with_payload: hitPayload,
    with_vector: false,
  };
}

export function scanScrollBody(
  bucketFrom: number,
  bucketTo: number,
  tenant: string | undefined,
  limit: number,
  offset: string | number | null | undefined,
): Schemas['ScrollRequest'] {
  return {
    filter: liveFilter(tenant, { must: [{ key: META.bucket, range: { gte: bucketFrom, lte: bucketTo } }] }),
    limit,
    ...(offset !== null && offset !== undefined ? { offset } : {}),
    with_payload: { include: [META.id, META.tenant, META.version, META.hash, META.bucket] },
    with_vector: false,
  };
}

export function countBody(tenant: string | undefined): Schemas['CountRequest'] {
  return { filter: liveFilter(tenant), exact: true };
}

/** Everything, tombstones included (a source TRUNCATE). */
export function truncateBody(): Schemas['FilterSelector'] & { wait: boolean } {
  return { wait: true, filter: { must: [] } };
}
