import { createHash } from 'node:crypto';

/** A stable bigint advisory-lock key per collection, for operations that must not overlap. */
export function hashCollectionLock(collection: string): string {
  return BigInt.asIntN(
    64,
    BigInt(
      `0x${createHash('sha256').update(`vectorsync:collection:${collection}`).digest('hex').slice(0, 16)}`,
    ),
  ).toString();
}
