import { isDeepStrictEqual } from 'node:util';
import type { CollectionDefinition } from '../../src/config/collection-definition.js';
import type { SqlExecutor } from '../../src/db/database.js';
import { HashEmbedder } from '../../src/embedders/hash-embedder.js';
import { Analyzer } from '../../src/pipeline/analyzer.js';
import { buildDocument } from '../../src/pipeline/document-builder.js';
import type { IndexDocument } from '../../src/pipeline/index-document.js';
import { sourceSelectList, toSourceRow } from '../../src/pipeline/source-reader.js';

/** A record as the suite reads it straight from the store (its own SQL or the LanceDB client). */
export interface StoredRecord {
  id: string;
  tenant: string;
  version: number;
  contentHash: string;
  payload: Record<string, unknown>;
  /** Analysed term → frequency, as stored for keyword search. */
  terms: Record<string, number>;
  termCount: number;
  vector: number[];
}

export interface DriftCheck {
  sourceRows: number;
  /** Rows that cannot be indexed (every template field empty): they must have no record. */
  unbuildable: number;
  records: number;
  missing: number;
  orphaned: number;
  stale: number;
  duplicated: number;
  /** Keyword-search structures that disagree with the records (pgvector's postings and statistics). */
  keywordIndex: number;
  samples: string[];
}

export function driftTotal(check: DriftCheck): number {
  return check.missing + check.orphaned + check.stale + check.duplicated + check.keywordIndex;
}

/**
 * What a fresh rebuild from the source would produce for every row, built with the pipeline's
 * pure functions (the definition of "the index equals the source"), not with reconciliation.
 */
export async function expectedDocuments(
  db: SqlExecutor,
  definition: CollectionDefinition,
  dimensions: number,
): Promise<{ documents: Map<string, IndexDocument>; unbuildable: Set<string>; rows: number }> {
  const embedder = new HashEmbedder(dimensions);
  const analyzer = new Analyzer(definition.config.analyzer);
  const result = await db.query<Record<string, unknown>>(
    `SELECT ${sourceSelectList(definition)} FROM ${definition.tableSql} s`,
  );
  const documents = new Map<string, IndexDocument>();
  const unbuildable = new Set<string>();
  for (const raw of result.rows) {
    const row = toSourceRow(raw);
    try {
      documents.set(row.id, buildDocument(definition, row, embedder, analyzer));
    } catch {
      unbuildable.add(row.id);
    }
  }
  return { documents, unbuildable, rows: result.rows.length };
}

/** Compares every stored record with what the source says it must be. */
export function compareWithSource(
  expected: Awaited<ReturnType<typeof expectedDocuments>>,
  stored: readonly StoredRecord[],
  dimensions: number,
): DriftCheck {
  const embedder = new HashEmbedder(dimensions);
  const check: DriftCheck = {
    sourceRows: expected.rows,
    unbuildable: expected.unbuildable.size,
    records: stored.length,
    missing: 0,
    orphaned: 0,
    stale: 0,
    duplicated: 0,
    keywordIndex: 0,
    samples: [],
  };
  const note = (text: string) => {
    if (check.samples.length < 20) check.samples.push(text);
  };
  const byId = new Map<string, StoredRecord[]>();
  for (const record of stored) byId.set(record.id, [...(byId.get(record.id) ?? []), record]);
  for (const [id, records] of byId) {
    if (records.length > 1) {
      check.duplicated += records.length - 1;
      note(`duplicated ${id} ×${records.length}`);
    }
    const document = expected.documents.get(id);
    if (!document) {
      if (expected.unbuildable.has(id)) {
        check.stale++;
        note(`stale ${id}: the row cannot be indexed now, the index still has v${records[0]!.version}`);
      } else {
        check.orphaned++;
        note(`orphaned ${id}@${records[0]!.tenant} v${records[0]!.version}`);
      }
      continue;
    }
    const record = records[0]!;
    const problems: string[] = [];
    if (record.tenant !== document.tenant) problems.push(`tenant ${record.tenant}≠${document.tenant}`);
    if (record.version !== document.version) problems.push(`version ${record.version}≠${document.version}`);
    if (record.contentHash !== document.contentHash) problems.push('content hash');
    if (!isDeepStrictEqual(normalisePayload(record.payload), normalisePayload(document.payload)))
      problems.push(`payload ${JSON.stringify(record.payload)}≠${JSON.stringify(document.payload)}`);
    if (
      !isDeepStrictEqual(sorted(record.terms), sorted(document.terms)) ||
      record.termCount !== document.termCount
    )
      problems.push('keyword terms');
    if (!sameVector(record.vector, embedder.embedOne(document.text))) problems.push('vector');
    if (problems.length > 0) {
      check.stale++;
      note(`stale ${id}: ${problems.join(', ')}`);
    }
  }
  for (const id of expected.documents.keys()) {
    if (!byId.has(id)) {
      check.missing++;
      note(`missing ${id}`);
    }
  }
  return check;
}

function normalisePayload(payload: Record<string, unknown>): Record<string, unknown> {
  // numeric(10,2) arrives as a number either way; keep the comparison about values.
  return Object.fromEntries(
    Object.entries(payload).map(([key, value]) => [
      key,
      typeof value === 'number' ? Number(value.toFixed(6)) : value,
    ]),
  );
}

function sorted(terms: Record<string, number>): Array<[string, number]> {
  return Object.entries(terms).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function sameVector(stored: readonly number[], expected: Float32Array): boolean {
  if (stored.length !== expected.length) return false;
  for (let i = 0; i < stored.length; i++) if (Math.abs(stored[i]! - expected[i]!) > 1e-5) return false;
  return true;
}
