import type { CollectionDefinition } from '../config/collection-definition.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import { contentHash } from './content-hash.js';
import type { IndexDocument } from './index-document.js';
import type { SourceRow } from './source-reader.js';

/** What the pipeline needs of an analyzer (search/analyzer.ts implements it). */
export interface TermAnalyzer {
  termFrequencies(text: string): { frequencies: Map<string, number>; length: number };
}

export interface EmbedderIdentity {
  modelId: string;
  dimensions: number;
}

/** Turns a source row into the document every store receives. Pure: same row, same document. */
export function buildDocument(
  definition: CollectionDefinition,
  row: SourceRow,
  embedder: EmbedderIdentity,
  analyzer: TermAnalyzer,
): IndexDocument {
  if (row.tenant === null || row.tenant === '') {
    throw new VectorsyncError(
      ErrorCode.TenantRequired,
      `row ${row.id} of ${definition.table.schema}.${definition.table.name} has no tenant (column "${definition.tenantColumn.name}" is empty)`,
      { details: { collection: definition.name, id: row.id } },
    );
  }
  if (!Number.isSafeInteger(row.version)) {
    throw new VectorsyncError(
      ErrorCode.InvalidFieldValue,
      `row ${row.id}: version column "${definition.versionColumn.name}" is not a usable version (${row.version})`,
      { details: { collection: definition.name, id: row.id } },
    );
  }
  const text = definition.template.render(row.values);
  const keywords = definition.keywordFields
    .map((field) => row.values[field])
    .filter((value) => value !== null && value !== undefined && value !== '')
    .map(String)
    .join('\n');
  const { frequencies, length } = analyzer.termFrequencies(keywords);
  const payload: Record<string, unknown> = {};
  for (const field of definition.payloadFields) {
    payload[field.name] = normalisePayloadValue(row.values[field.name], field.type);
  }
  return {
    collection: definition.name,
    tenant: row.tenant,
    id: row.id,
    version: row.version,
    contentHash: contentHash(text, embedder.modelId, embedder.dimensions),
    text,
    keywords,
    terms: Object.fromEntries(frequencies),
    termCount: length,
    payload,
  };
}

/** JSON-friendly payload values: numerics as numbers, timestamps as ISO strings. */
function normalisePayloadValue(value: unknown, type: string): unknown {
  if (value === null || value === undefined) return null;
  if (type === 'number') return typeof value === 'number' ? value : Number(value);
  if (type === 'number[]' && Array.isArray(value)) return value.map(Number);
  if (type === 'timestamp') return value instanceof Date ? value.toISOString() : String(value);
  return value;
}
