import { ErrorCode, VectorsyncError } from '../errors.js';
import { ID_BUCKETS } from './id-bucket.js';
import type { ScanRequest } from './vector-store.js';

/** Where a bucket scan continues: after record `id` of bucket `bucket` (byte order of ids). */
export interface ScanPosition {
  bucket: number;
  id: string;
}

export function encodeScanCursor(position: ScanPosition): string {
  return Buffer.from(JSON.stringify({ b: position.bucket, i: position.id })).toString('base64url');
}

export function decodeScanCursor(cursor: string): ScanPosition {
  try {
    const { b, i } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
      b?: unknown;
      i?: unknown;
    };
    if (typeof b === 'number' && Number.isInteger(b) && b >= 0 && b < ID_BUCKETS && typeof i === 'string')
      return { bucket: b, id: i };
  } catch {
    // fall through
  }
  throw new VectorsyncError(ErrorCode.InvalidRequest, `scan cursor "${cursor}" was not returned by a scan`, {
    details: { cursor },
  });
}

/** Rejects a bucket range or limit no store could serve, naming the value. */
export function validateScanRequest(request: ScanRequest): void {
  const bucketOk = (value: number) => Number.isInteger(value) && value >= 0 && value < ID_BUCKETS;
  if (!bucketOk(request.bucketFrom) || !bucketOk(request.bucketTo) || request.bucketFrom > request.bucketTo) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `scan bucket range ${request.bucketFrom}..${request.bucketTo} is not within 0..${ID_BUCKETS - 1}`,
      { details: { bucketFrom: request.bucketFrom, bucketTo: request.bucketTo } },
    );
  }
  if (!Number.isInteger(request.limit) || request.limit < 1) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `scan limit must be a positive integer (got ${request.limit})`,
      {
        details: { limit: request.limit },
      },
    );
  }
}
