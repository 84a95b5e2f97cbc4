import { ErrorCode, VectorsyncError } from '../errors.js';
import type { EmbeddedDocument } from '../pipeline/index-document.js';
import type { ApplyResult, IndexSpec } from './vector-store.js';

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
