import { createHash } from 'node:crypto';
import type { BucketChecksum, StoredRecordMeta } from './vector-store.js';

/** The first 64 bits of md5(`${id}:${version}:${contentHash}`), the unit bucket checksums XOR together. */
export function recordChecksum(record: Pick<StoredRecordMeta, 'id' | 'version' | 'contentHash'>): bigint {
  return createHash('md5')
    .update(`${record.id}:${record.version}:${record.contentHash}`, 'utf8')
    .digest()
    .readBigUInt64BE(0);
}

/**
 * Accumulates per-group counts and XOR checksums in bounded memory (at most one entry per
 * group), for stores that compute `bucketChecksums` by streaming their records.
 */
export class BucketChecksumAccumulator {
  private readonly groups = new Map<number, { count: number; checksum: bigint }>();
  private readonly shift: number;

  constructor(bucketBits: number) {
    this.shift = 16 - bucketBits;
  }

  add(bucket: number, record: Pick<StoredRecordMeta, 'id' | 'version' | 'contentHash'>): void {
    const group = bucket >> this.shift;
    const entry = this.groups.get(group) ?? { count: 0, checksum: 0n };
    entry.count++;
    entry.checksum ^= recordChecksum(record);
    this.groups.set(group, entry);
  }

  result(): BucketChecksum[] {
    return [...this.groups.entries()]
      .sort(([a], [b]) => a - b)
      .map(([bucket, { count, checksum }]) => ({
        bucket,
        count,
        checksum: checksum.toString(16).padStart(16, '0'),
      }));
  }
}
