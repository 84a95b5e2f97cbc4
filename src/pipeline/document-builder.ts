import type { Chunker } from '../chunking/chunker.js';
import type { CollectionDefinition, PayloadFieldType } from '../config/collection-definition.js';
import { formatValue, type TextTemplate } from '../config/text-template.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import { contentHash } from './content-hash.js';
import { chunkEmbeddingInput, type DocumentChunk, type IndexDocument } from './index-document.js';
import type { SourceRow } from './source-reader.js';

/** What the pipeline needs of an analyzer (analyzer.ts implements it). */
export interface TermAnalyzer {
  termFrequencies(text: string): { frequencies: Map<string, number>; length: number };
}

/**
 * What building a document needs of a collection definition: a CollectionDefinition, or the
 * plain-data copy a worker thread rebuilds from a DocumentSpec (runtime/document-tasks.ts).
 */
export interface DocumentShape {
  readonly name: string;
  readonly table: { readonly schema: string; readonly name: string };
  readonly tenantColumn: { readonly name: string };
  readonly versionColumn: { readonly name: string };
  readonly template: Pick<TextTemplate, 'fields' | 'render' | 'renderLines'>;
  /** A chunked collection's splitter (absent: one vector per document). */
  readonly chunker?: Chunker | undefined;
  readonly keywordFields: CollectionDefinition['keywordFields'];
  readonly payloadFields: ReadonlyArray<{
    readonly name: string;
    readonly type: PayloadFieldType;
    /** The value's key in the row when it is not `name` (a relation field). */
    readonly key?: string;
  }>;
}

export interface EmbedderIdentity {
  modelId: string;
  dimensions: number;
}

/** What identifies an index record's content: enough to compare an index with its source. */
export interface DocumentIdentity {
  tenant: string;
  id: string;
  version: number;
  contentHash: string;
  /** The embedding input the content hash was computed from. */
  text: string;
}

/**
 * The identity part of buildDocument (tenant, version, embedding text and its content hash),
 * without analysing keywords or building the payload: reconciliation computes it for every
 * source row. Throws for a row that cannot be indexed, exactly like buildDocument.
 */
export function buildDocumentIdentity(
  definition: DocumentShape,
  row: SourceRow,
  embedder: EmbedderIdentity,
): DocumentIdentity {
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
  const fields = definition.template.fields;
  if (
    fields.every((field) => {
      const value = row.values[field];
      return (
        value === null || value === undefined || value === '' || (Array.isArray(value) && value.length === 0)
      );
    })
  ) {
    // Only the template's literal text would be embedded: a vector that means nothing.
    throw new VectorsyncError(
      ErrorCode.TemplateFieldMissing,
      `row ${row.id}: every field of the text template is empty (${fields.join(', ')}); there is nothing to embed`,
      { details: { collection: definition.name, id: row.id, fields } },
    );
  }
  // A chunked text keeps its lines: paragraphs and headings are where chunks end.
  const text = definition.chunker
    ? definition.template.renderLines(row.values)
    : definition.template.render(row.values);
  if (text === '') {
    throw new VectorsyncError(
      ErrorCode.TemplateFieldMissing,
      `row ${row.id}: the text template renders only whitespace; there is nothing to embed`,
      { details: { collection: definition.name, id: row.id, fields } },
    );
  }
  return {
    tenant: row.tenant,
    id: row.id,
    version: row.version,
    contentHash: contentHash(text, embedder.modelId, embedder.dimensions),
    text,
  };
}

/** Turns a source row into the document every store receives. Pure: same row, same document. */
export function buildDocument(
  definition: DocumentShape,
  row: SourceRow,
  embedder: EmbedderIdentity,
  analyzer: TermAnalyzer,
): IndexDocument {
  const { tenant, version, contentHash: hash, text } = buildDocumentIdentity(definition, row, embedder);
  const keywords = definition.keywordFields
    .map((field) => formatValue(row.values[field]))
    .filter((value) => value !== '')
    .join('\n');
  const { frequencies, length } = analyzer.termFrequencies(keywords);
  const payload: Record<string, unknown> = {};
  for (const field of definition.payloadFields) {
    payload[field.name] = normalisePayloadValue(row.values[field.key ?? field.name], field.type);
  }
  const document: IndexDocument = {
    collection: definition.name,
    tenant,
    id: row.id,
    version,
    contentHash: hash,
    text,
    keywords,
    terms: Object.fromEntries(frequencies),
    termCount: length,
    payload,
  };
  if (definition.chunker) document.chunks = documentChunks(definition.chunker, text, embedder);
  return document;
}

function documentChunks(chunker: Chunker, text: string, embedder: EmbedderIdentity): DocumentChunk[] {
  return chunker.split(text).map((chunk, ordinal) => ({
    ordinal,
    start: chunk.start,
    end: chunk.end,
    text: chunk.text,
    ...(chunk.context ? { context: chunk.context } : {}),
    contentHash: contentHash(chunkEmbeddingInput(chunk), embedder.modelId, embedder.dimensions),
  }));
}

/** JSON-friendly payload values: numerics as numbers, timestamps as ISO strings. */
function normalisePayloadValue(value: unknown, type: string): unknown {
  if (value === null || value === undefined) return null;
  if (type === 'number') return typeof value === 'number' ? value : Number(value);
  if (type === 'number[]' && Array.isArray(value)) return value.map(Number);
  if (type === 'timestamp') return value instanceof Date ? value.toISOString() : String(value);
  return value;
}
