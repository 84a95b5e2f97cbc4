import { quoteIdent, quoteLiteral } from '../db/sql-identifier.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import type { AnnIndexTable, AnnMethod } from '../stores/index-ops-support.js';

/** What an ANN index is built with. pgvector's limits are checked before anything starts. */
export type AnnParams =
  | { method: 'hnsw'; m: number; efConstruction: number }
  | { method: 'ivfflat'; lists: number };

export interface AnnParamsInput {
  method?: string;
  m?: number;
  efConstruction?: number;
  lists?: number;
}

function invalid(message: string, details: Record<string, unknown>): VectorsyncError {
  return new VectorsyncError(ErrorCode.InvalidIndexParams, message, { details });
}

function integerIn(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max)
    throw invalid(`${name} must be an integer from ${min} to ${max} (got ${value})`, { [name]: value });
  return value;
}

/**
 * IVFFlat's usual starting point (pgvector's README): rows / 1000 up to a million rows,
 * √rows beyond.
 */
export function defaultIvfflatLists(rows: number): number {
  return Math.max(1, Math.round(rows <= 1_000_000 ? rows / 1000 : Math.sqrt(rows)));
}

/** Fills defaults (the store's configured HNSW parameters) and validates; errors name the value. */
export function resolveAnnParams(
  input: AnnParamsInput,
  defaults: { m: number; efConstruction: number },
  rows: number,
  supported: readonly AnnMethod[],
): AnnParams {
  const method = input.method ?? 'hnsw';
  if (method !== 'hnsw' && method !== 'ivfflat')
    throw invalid(`unknown index method "${method}" (use hnsw or ivfflat)`, { method });
  if (!supported.includes(method))
    throw invalid(`this store cannot build ${method} indexes (it supports ${supported.join(', ')})`, {
      method,
    });
  if (method === 'hnsw') {
    if (input.lists !== undefined)
      throw invalid('lists applies to ivfflat indexes; hnsw takes m and ef_construction', {
        lists: input.lists,
      });
    const m = integerIn('m', input.m ?? defaults.m, 2, 100);
    const efConstruction = integerIn(
      'ef_construction',
      input.efConstruction ?? defaults.efConstruction,
      4,
      1000,
    );
    if (efConstruction < 2 * m)
      throw invalid(`ef_construction must be at least 2 × m (${2 * m}), got ${efConstruction}`, {
        m,
        efConstruction,
      });
    return { method, m, efConstruction };
  }
  if (input.m !== undefined || input.efConstruction !== undefined)
    throw invalid('m and ef_construction apply to hnsw indexes; ivfflat takes lists', {
      m: input.m,
      efConstruction: input.efConstruction,
    });
  return { method, lists: integerIn('lists', input.lists ?? defaultIvfflatLists(rows), 1, 32_768) };
}

export function describeAnnParams(params: AnnParams): string {
  return params.method === 'hnsw'
    ? `hnsw m=${params.m} ef_construction=${params.efConstruction}`
    : `ivfflat lists=${params.lists}`;
}

export function sameAnnParams(a: AnnParams, b: AnnParams): boolean {
  return describeAnnParams(a) === describeAnnParams(b);
}

/** `WHERE tenant = '…'` of a per-tenant partial index, or '' for the whole collection. */
export function tenantPredicate(table: AnnIndexTable, tenant: string | null): string {
  return tenant === null ? '' : ` WHERE ${quoteIdent(table.tenantColumn)} = ${quoteLiteral(tenant)}`;
}

export function annIndexDdl(input: {
  table: AnnIndexTable;
  indexName: string;
  params: AnnParams;
  opclass: string;
  tenant: string | null;
  concurrent: boolean;
}): string {
  const { table, params } = input;
  const options =
    params.method === 'hnsw'
      ? `m = ${Number(params.m)}, ef_construction = ${Number(params.efConstruction)}`
      : `lists = ${Number(params.lists)}`;
  return `CREATE INDEX${input.concurrent ? ' CONCURRENTLY' : ''} ${quoteIdent(input.indexName)} ON ${table.qualified}
    USING ${params.method} (${quoteIdent(table.vectorColumn)} ${input.opclass}) WITH (${options})${tenantPredicate(table, input.tenant)}`;
}

/**
 * A fresh name per operation, so a candidate never collides with the index it replaces.
 * Postgres truncates names at 63 bytes; the operation id is kept and the table part shortened.
 */
export function annIndexName(table: AnnIndexTable, operationId: number): string {
  const suffix = `_ann${operationId}`;
  return `${table.name.slice(0, 63 - suffix.length)}${suffix}`;
}
