import { ErrorCode, VectorsyncError } from '../errors.js';
import { ID_BUCKETS, idBucket } from '../stores/id-bucket.js';
import type { IndexSpec, StoredRecordMeta, VectorStore } from '../stores/vector-store.js';
import { GroupChecksums, recordChecksum } from './group-checksums.js';

export interface StoreReadOptions {
  tenant?: string;
  pageSize: number;
  signal?: AbortSignal;
}

/**
 * The index side of the fast path. A store that implements bucketChecksums computes them
 * itself (pgvector: one aggregate query, nothing leaves the database but one row per group);
 * any other store is read once with scan and folded here, in bounded memory.
 */
export async function readStoreChecksums(
  store: VectorStore,
  spec: IndexSpec,
  bits: number,
  options: StoreReadOptions,
): Promise<{ checksums: GroupChecksums; computedBy: 'store' | 'scan' }> {
  const checksums = new GroupChecksums(bits);
  if (store.bucketChecksums) {
    const rows = await store.bucketChecksums(spec, {
      bucketBits: bits,
      ...(options.tenant !== undefined ? { tenant: options.tenant } : {}),
    });
    for (const row of rows) checksums.setGroup(row);
    return { checksums, computedBy: 'store' };
  }
  for await (const records of scanBuckets(store, spec, 0, ID_BUCKETS - 1, options)) {
    for (const record of records)
      checksums.add(idBucket(record.id), recordChecksum(record.id, record.version, record.contentHash));
  }
  return { checksums, computedBy: 'scan' };
}

/** Every page of a bucket range, following the store's cursor. */
export async function* scanBuckets(
  store: VectorStore,
  spec: IndexSpec,
  bucketFrom: number,
  bucketTo: number,
  options: StoreReadOptions,
): AsyncGenerator<StoredRecordMeta[]> {
  let cursor: string | undefined;
  for (;;) {
    if (options.signal?.aborted) return;
    const page = await store.scan(spec, {
      bucketFrom,
      bucketTo,
      limit: options.pageSize,
      ...(options.tenant !== undefined ? { tenant: options.tenant } : {}),
      ...(cursor !== undefined ? { cursor } : {}),
    });
    yield page.records;
    if (page.cursor === null) return;
    if (page.cursor === cursor) {
      throw new VectorsyncError(
        ErrorCode.StoreFailed,
        `store ${store.kind} returned the same scan cursor twice for buckets ${bucketFrom}..${bucketTo}`,
        { details: { store: store.kind, bucketFrom, bucketTo } },
      );
    }
    cursor = page.cursor;
  }
}

/** Consecutive groups as inclusive bucket ranges, so adjacent differing groups are read in one scan. */
export function bucketRanges(groups: readonly number[], bits: number): Array<[number, number]> {
  const shift = 16 - bits;
  const ranges: Array<[number, number]> = [];
  for (const group of groups) {
    const from = group << shift;
    const to = ((group + 1) << shift) - 1;
    const last = ranges.at(-1);
    if (last && last[1] + 1 === from) last[1] = to;
    else ranges.push([from, to]);
  }
  return ranges;
}
