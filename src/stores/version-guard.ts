import { createHash } from 'node:crypto';
import { ErrorCode, VectorsyncError } from '../errors.js';
import type { EmbeddedDocument } from '../pipeline/index-document.js';
import type { ApplyOutcome, ApplyResult, DeleteRequest, IndexSpec, SearchHit } from './vector-store.js';

/**
 * The version guard of the stores that cannot express it in SQL (LanceDB, Qdrant, and those to
 * come): they read the stored state of a batch's ids, decide here, then write what won, with
 * the decision repeated as the write's condition where the store supports one. pgvector's guard
 * is the same rule in SQL (`pgvector-store.ts`); the store contract suite holds all of them to it.
 */

/** What the guard needs to know of a stored record, live or tombstone. */
export interface StoredState {
  tenant: string;
  version: number;
  deleted: boolean;
  /** `recordFingerprint` of what was written ('' for a tombstone). */
  fingerprint: string;
}

/**
 * What a redelivered version is compared by: a same-version write that changes nothing writes
 * nothing, one that changes the tenant, the content, the payload or the terms is written.
 */
export function recordFingerprint(document: EmbeddedDocument): string {
  return createHash('sha1')
    .update(JSON.stringify([document.tenant, document.contentHash, document.payload, document.terms]))
    .digest('hex');
}

/**
 * Whether an upsert replaces what is stored: a newer version, or the same version with other
 * content over a live record (a tombstone at a version wins a tie). `overwrite` (reconcile's
 * repair: the source is the truth) writes whenever the stored record differs at all.
 */
export function upsertWins(
  current: StoredState | undefined,
  incoming: { version: number; fingerprint: string },
  overwrite: boolean,
): boolean {
  if (!current) return true;
  if (overwrite)
    return (
      current.deleted || current.version !== incoming.version || current.fingerprint !== incoming.fingerprint
    );
  return (
    current.version < incoming.version ||
    (current.version === incoming.version && !current.deleted && current.fingerprint !== incoming.fingerprint)
  );
}

export type DeleteDecision =
  | { outcome: 'skipped_stale' }
  /** `tombstone` null: already deleted at that version or later, nothing to write. */
  | { outcome: 'applied'; tombstone: { tenant: string; version: number } | null };

/**
 * What a delete does to a stored record: a live record newer than the delete, or of another
 * tenant than the one named (a moved row's old key), stays; otherwise a tombstone is written at
 * the delete's version (or, for a delete that does not know it, the stored record's), so the
 * guard still refuses older writes after the record is gone.
 */
export function deleteDecision(
  current: StoredState | undefined,
  request: Pick<DeleteRequest, 'tenant' | 'version'>,
): DeleteDecision {
  if (current && !current.deleted) {
    const otherTenant = request.tenant !== null && current.tenant !== request.tenant;
    if (otherTenant || (request.version !== null && current.version > request.version))
      return { outcome: 'skipped_stale' };
  }
  const version = request.version ?? current?.version ?? 0;
  if (current?.deleted && current.version >= version) return { outcome: 'applied', tombstone: null };
  return { outcome: 'applied', tombstone: { tenant: request.tenant ?? current?.tenant ?? '', version } };
}

/**
 * What every store does before writing an upsert batch: keep the newest version of each id, and
 * fail (without writing) the documents whose vector does not have the index's dimensions, so the
 * rest of the batch is still written.
 */
export function upsertIntake(
  spec: IndexSpec,
  documents: readonly EmbeddedDocument[],
): { results: Map<string, ApplyResult>; valid: EmbeddedDocument[] } {
  const byId = new Map<string, EmbeddedDocument>();
  for (const document of documents) {
    const seen = byId.get(document.id);
    if (!seen || seen.version <= document.version) byId.set(document.id, document);
  }
  const results = new Map<string, ApplyResult>();
  const valid: EmbeddedDocument[] = [];
  for (const document of byId.values()) {
    if (document.vector.length === spec.dimensions) {
      valid.push(document);
      continue;
    }
    results.set(document.id, {
      id: document.id,
      outcome: 'failed',
      error: new VectorsyncError(
        ErrorCode.DimensionMismatch,
        `document ${document.id}: vector has ${document.vector.length} dimensions, index ${spec.location} expects ${spec.dimensions}`,
        { details: { id: document.id, expected: spec.dimensions, received: document.vector.length } },
      ),
    });
  }
  return { results, valid };
}

/** A query vector must have the index's dimensions: another model's vector would search nonsense. */
export function assertQueryDimensions(spec: IndexSpec, vector: Float32Array): void {
  if (vector.length !== spec.dimensions) {
    throw new VectorsyncError(
      ErrorCode.DimensionMismatch,
      `query vector has ${vector.length} dimensions, index ${spec.location} expects ${spec.dimensions}`,
      { details: { expected: spec.dimensions, received: vector.length } },
    );
  }
}

/** Best score first; equal scores by id, so a page boundary and a repeated query are stable. */
export function byScoreThenId(a: SearchHit, b: SearchHit): number {
  return b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** One result per request, in the order of the requests (duplicates share their id's outcome). */
export function inRequestOrder<T extends { id: string }>(
  requests: readonly T[],
  outcomes: ReadonlyMap<string, ApplyResult | ApplyOutcome>,
): ApplyResult[] {
  return requests.map((request) => {
    const outcome = outcomes.get(request.id)!;
    return typeof outcome === 'string' ? { id: request.id, outcome } : outcome;
  });
}
