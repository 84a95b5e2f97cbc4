import type { CollectionDefinition } from '../config/collection-definition.js';
import type { ColumnInfo } from '../db/table-introspection.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import { columnValueProblem } from './column-value-check.js';
import { documentKey } from './document-key.js';

export type WriteMode = 'create' | 'replace' | 'patch';

export interface FieldProblem {
  field: string;
  problem: string;
}

/**
 * Checks a document body against the source table's live columns before anything is
 * written: unknown fields, read-only fields, values the column type cannot hold
 * (src/sync/column-value-check.ts), and (for create and replace) missing required fields. Every problem names
 * its field; any problem means nothing is written.
 */
export function validateDocumentBody(
  definition: CollectionDefinition,
  body: unknown,
  mode: WriteMode,
  tenant: string,
  pathId?: string,
): Map<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new VectorsyncError(ErrorCode.MalformedBody, 'request body must be a JSON object of column values');
  }
  const columns = definition.tableInfo.columns;
  // Key column → the value the path's id gives it (updates only: a key cannot change).
  const keyNames = definition.keyColumns.map((column) => column.name);
  const pathKey = pathId === undefined ? undefined : documentKey(definition, pathId);
  const tenantColumn = definition.tenantColumn.name;
  const managedVersion = definition.config.manageVersion ? definition.versionColumn.name : undefined;
  const values = new Map<string, unknown>();
  const problems: FieldProblem[] = [];

  const unknown = Object.keys(body).filter((field) => !columns.has(field));
  if (unknown.length > 0) {
    throw new VectorsyncError(
      ErrorCode.UnknownField,
      `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((field) => `"${field}"`).join(', ')} for collection "${definition.name}"`,
      { details: { fields: unknown, known: [...columns.keys()] } },
    );
  }

  for (const [field, value] of Object.entries(body as Record<string, unknown>)) {
    const column = columns.get(field)!;
    if (field === tenantColumn) {
      if (value !== tenant) {
        throw new VectorsyncError(
          ErrorCode.TenantMismatch,
          `field "${field}" must be your tenant "${tenant}" (or omitted)`,
          {
            details: { field },
          },
        );
      }
      continue;
    }
    const keyIndex = keyNames.indexOf(field);
    if (keyIndex >= 0 && mode !== 'create') {
      if (String(value) !== pathKey?.[keyIndex])
        problems.push({
          field,
          problem: 'the primary key cannot be changed; omit it or repeat the id from the URL',
        });
      continue;
    }
    if (column.isGenerated) {
      problems.push({ field, problem: 'is a generated column and cannot be written' });
      continue;
    }
    if (field === managedVersion) {
      problems.push({ field, problem: 'is managed by vectorsync and cannot be written' });
      continue;
    }
    const problem = columnValueProblem(column, value);
    if (problem) problems.push({ field, problem });
    else values.set(field, encodeValue(column, value));
  }

  if (mode === 'create' || mode === 'replace') {
    for (const column of columns.values()) {
      if (column.name === tenantColumn || column.name === managedVersion || column.isGenerated) continue;
      if (mode === 'replace' && keyNames.includes(column.name)) continue;
      const provided = Object.hasOwn(body, column.name);
      if (!provided && !column.nullable && !column.hasDefault) {
        problems.push({ field: column.name, problem: 'is required' });
      }
      // A full update resets omitted nullable columns that have no default.
      if (mode === 'replace' && !provided && column.nullable && !column.hasDefault)
        values.set(column.name, null);
    }
  }

  if (problems.length > 0) {
    const first = problems[0]!;
    const code = problems.every((p) => p.problem === 'is required')
      ? ErrorCode.MissingField
      : ErrorCode.InvalidFieldValue;
    throw new VectorsyncError(
      code,
      problems.length === 1
        ? `field "${first.field}" ${first.problem}`
        : `${problems.length} invalid fields: ${problems.map((p) => `"${p.field}" ${p.problem}`).join('; ')}`,
      { details: { problems } },
    );
  }
  return values;
}

function encodeValue(column: ColumnInfo, value: unknown): unknown {
  // node-postgres turns JS arrays into Postgres arrays; a json column wants JSON text instead.
  if ((column.baseType === 'json' || column.baseType === 'jsonb') && value !== null)
    return JSON.stringify(value);
  return value;
}

/**
 * A `date` as `YYYY-MM-DD`, as documented. node-postgres reads a date as local midnight: its
 * ISO string would be a timestamp, and a day early east of UTC. Its local fields are the date.
 */
function calendarDate(value: Date): string {
  const pad = (number: number, width: number) => String(number).padStart(width, '0');
  return `${pad(value.getFullYear(), 4)}-${pad(value.getMonth() + 1, 2)}-${pad(value.getDate(), 2)}`;
}

/** Makes a source row JSON-friendly: numerics become numbers when they fit, timestamps ISO strings. */
export function rowToJson(
  definition: CollectionDefinition,
  row: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    const column = definition.tableInfo.columns.get(key);
    if (value instanceof Date)
      out[key] = column?.baseType === 'date' ? calendarDate(value) : value.toISOString();
    else if (typeof value === 'string' && column && ['numeric', 'int8'].includes(column.baseType)) {
      const number = Number(value);
      out[key] =
        Number.isFinite(number) && (column.baseType !== 'int8' || Number.isSafeInteger(number))
          ? number
          : value;
    } else out[key] = value;
  }
  return out;
}
