import type { SqlExecutor } from '../db/database.js';
import { parseQualifiedName, type QualifiedName, qualified, quoteIdent } from '../db/sql-identifier.js';
import { type ColumnInfo, describeTable, type TableInfo } from '../db/table-introspection.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import type { CollectionConfig, VectorsyncConfig } from './config-schema.js';
import { didYouMean } from './did-you-mean.js';
import { parseTextTemplate, type TextTemplate } from './text-template.js';

export type PayloadFieldType =
  | 'string'
  | 'number'
  | 'boolean'
  | 'timestamp'
  | 'json'
  | 'string[]'
  | 'number[]';

export interface PayloadField {
  name: string;
  type: PayloadFieldType;
  column: ColumnInfo;
}

export type VersionKind = 'integer' | 'timestamp';

/** A collection's config checked against its live source table: everything sync needs to know. */
export interface CollectionDefinition {
  readonly name: string;
  readonly config: CollectionConfig;
  readonly table: QualifiedName;
  /** The quoted, schema-qualified table name, safe to splice into SQL. */
  readonly tableSql: string;
  readonly tableInfo: TableInfo;
  readonly primaryKey: ColumnInfo;
  readonly tenantColumn: ColumnInfo;
  readonly versionColumn: ColumnInfo;
  readonly versionKind: VersionKind;
  readonly template: TextTemplate;
  readonly keywordFields: readonly string[];
  readonly payloadFields: readonly PayloadField[];
  /** Every column the pipeline reads from a source row. */
  readonly readColumns: readonly string[];
}

const integerTypes = new Set(['int2', 'int4', 'int8', 'numeric']);
const timestampTypes = new Set(['timestamp', 'timestamptz']);

export function payloadFieldType(column: ColumnInfo): PayloadFieldType {
  const base = column.baseType;
  if (['int2', 'int4', 'int8', 'float4', 'float8', 'numeric'].includes(base)) return 'number';
  if (base === 'bool') return 'boolean';
  if (['timestamp', 'timestamptz', 'date'].includes(base)) return 'timestamp';
  if (base === 'json' || base === 'jsonb') return 'json';
  if (['_int2', '_int4', '_int8', '_float4', '_float8', '_numeric'].includes(base)) return 'number[]';
  if (base.startsWith('_')) return 'string[]';
  return 'string';
}

/**
 * SQL for a row's version as bigint. Timestamps become microseconds since the epoch, which
 * keeps their order and fits a bigint until the year 294247.
 */
export function versionExpression(
  definition: Pick<CollectionDefinition, 'versionKind' | 'versionColumn'>,
  alias: string,
): string {
  const column = `${alias}.${quoteIdent(definition.versionColumn.name)}`;
  return definition.versionKind === 'timestamp'
    ? `(floor(extract(epoch FROM ${column}) * 1000000))::bigint`
    : `(${column})::bigint`;
}

export async function loadCollectionDefinitions(
  db: SqlExecutor,
  config: Pick<VectorsyncConfig, 'collections'>,
): Promise<Map<string, CollectionDefinition>> {
  const problems: string[] = [];
  const definitions = new Map<string, CollectionDefinition>();
  for (const [name, collection] of Object.entries(config.collections)) {
    const definition = await defineCollection(db, name, collection, problems);
    if (definition) definitions.set(name, definition);
  }
  if (problems.length > 0) {
    throw new VectorsyncError(
      ErrorCode.ConfigInvalid,
      `config does not match the database:\n  - ${problems.join('\n  - ')}`,
      {
        details: { problems },
      },
    );
  }
  return definitions;
}

async function defineCollection(
  db: SqlExecutor,
  name: string,
  config: CollectionConfig,
  problems: string[],
): Promise<CollectionDefinition | undefined> {
  const at = (key: string) => `collections.${name}.${key}`;
  let table: QualifiedName;
  try {
    table = parseQualifiedName(config.table);
  } catch (error) {
    problems.push(`${at('table')}: ${(error as Error).message}`);
    return undefined;
  }
  const info = await describeTable(db, table);
  if (!info) {
    problems.push(`${at('table')}: table ${table.schema}.${table.name} does not exist`);
    return undefined;
  }
  const before = problems.length;
  const column = (key: string, columnName: string): ColumnInfo | undefined => {
    const found = info.columns.get(columnName);
    if (!found)
      problems.push(
        `${key}: column "${columnName}" does not exist in ${table.schema}.${table.name}${suggest(columnName, info)}`,
      );
    return found;
  };

  const primaryKey = column(at('primaryKey'), config.primaryKey);
  if (primaryKey && !info.uniqueColumns.has(primaryKey.name)) {
    problems.push(
      `${at('primaryKey')}: column "${primaryKey.name}" is not the primary key or a unique column of ${table.schema}.${table.name} (its primary key is ${info.primaryKey.join(', ') || 'missing'})`,
    );
  }
  const tenantColumn = column(at('tenantColumn'), config.tenantColumn);
  const versionColumn = column(at('versionColumn'), config.versionColumn);
  let versionKind: VersionKind = 'integer';
  if (versionColumn) {
    if (timestampTypes.has(versionColumn.baseType)) versionKind = 'timestamp';
    else if (!integerTypes.has(versionColumn.baseType)) {
      problems.push(
        `${at('versionColumn')}: column "${versionColumn.name}" has type ${versionColumn.type}; use an integer, numeric or timestamp column`,
      );
    }
    if (config.manageVersion && versionKind !== 'integer') {
      problems.push(
        `${at('manageVersion')}: needs an integer version column, "${versionColumn.name}" is ${versionColumn.type}`,
      );
    }
  }
  let template: TextTemplate | undefined;
  try {
    template = parseTextTemplate(config.text);
    for (const field of template.fields) column(at('text'), field);
  } catch (error) {
    problems.push(`${at('text')}: ${(error as Error).message}`);
  }
  for (const field of config.keywordFields) column(at('keywordFields'), field);
  const payloadFields: PayloadField[] = [];
  for (const field of config.payloadFields) {
    const found = column(at('payloadFields'), field);
    if (found) payloadFields.push({ name: field, type: payloadFieldType(found), column: found });
  }
  if (problems.length > before || !primaryKey || !tenantColumn || !versionColumn || !template)
    return undefined;

  const readColumns = [...new Set([...template.fields, ...config.keywordFields, ...config.payloadFields])];
  return Object.freeze({
    name,
    config,
    table,
    tableSql: qualified(table),
    tableInfo: info,
    primaryKey,
    tenantColumn,
    versionColumn,
    versionKind,
    template,
    keywordFields: config.keywordFields,
    payloadFields,
    readColumns,
  });
}

function suggest(wanted: string, info: TableInfo): string {
  return didYouMean(wanted, info.columns.keys());
}
