import { ErrorCode, VectorsyncError } from '../errors.js';
import { hexDigest } from '../pipeline/hex-digest.js';
import type { BucketChecksum } from '../stores/vector-store.js';

/**
 * The 64-bit checksum of one record, as two unsigned 32-bit halves: the first 8 bytes of
 * md5(`${id}:${version}:${contentHash}`). The same value stores compute in SQL for
 * bucketChecksums (vector-store.ts), so both sides of a comparison agree bit for bit.
 */
export function recordChecksum(id: string, version: number, contentHash: string): [number, number] {
  const digest = hexDigest('md5', `${id}:${version}:${contentHash}`);
  return [Number.parseInt(digest.slice(0, 8), 16), Number.parseInt(digest.slice(8, 16), 16)];
}

/**
 * Per-group record counts and XOR checksums, for `1 << bits` groups of id buckets (group =
 * bucket >> (16 - bits)). XOR makes the checksum independent of the order records arrive in,
 * so the source (streamed in primary-key order) and the store (any order) can be compared.
 * Memory is fixed: three 32-bit arrays of 2^bits entries (768 KB at 16 bits).
 */
export class GroupChecksums {
  readonly groups: number;
  readonly shift: number;
  readonly counts: Uint32Array;
  private readonly high: Uint32Array;
  private readonly low: Uint32Array;

  constructor(readonly bits: number) {
    this.groups = 1 << bits;
    this.shift = 16 - bits;
    this.counts = new Uint32Array(this.groups);
    this.high = new Uint32Array(this.groups);
    this.low = new Uint32Array(this.groups);
  }

  groupOf(bucket: number): number {
    return bucket >> this.shift;
  }

  add(bucket: number, checksum: readonly [number, number]): void {
    const group = bucket >> this.shift;
    this.counts[group]!++;
    this.high[group] = this.high[group]! ^ checksum[0];
    this.low[group] = this.low[group]! ^ checksum[1];
  }

  /** Loads what a store computed itself (VectorStore.bucketChecksums). */
  setGroup(entry: BucketChecksum): void {
    if (!Number.isInteger(entry.bucket) || entry.bucket < 0 || entry.bucket >= this.groups) {
      throw new VectorsyncError(
        ErrorCode.StoreFailed,
        `store returned checksum group ${entry.bucket}, outside 0..${this.groups - 1} for ${this.bits} bucket bits`,
        { details: { group: entry.bucket, bits: this.bits } },
      );
    }
    if (!/^[0-9a-f]{16}$/.test(entry.checksum)) {
      throw new VectorsyncError(
        ErrorCode.StoreFailed,
        `store returned checksum "${entry.checksum}" for group ${entry.bucket}; expected 16 lowercase hex digits`,
        { details: { group: entry.bucket, checksum: entry.checksum } },
      );
    }
    this.counts[entry.bucket] = entry.count;
    this.high[entry.bucket] = Number.parseInt(entry.checksum.slice(0, 8), 16);
    this.low[entry.bucket] = Number.parseInt(entry.checksum.slice(8), 16);
  }

  total(): number {
    let sum = 0;
    for (const count of this.counts) sum += count;
    return sum;
  }

  /** Groups whose count or checksum differ, in ascending order. */
  differingGroups(other: GroupChecksums): number[] {
    const differing: number[] = [];
    for (let group = 0; group < this.groups; group++) {
      if (
        this.counts[group] !== other.counts[group] ||
        this.high[group] !== other.high[group] ||
        this.low[group] !== other.low[group]
      )
        differing.push(group);
    }
    return differing;
  }
}
