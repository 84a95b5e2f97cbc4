import type { ColumnInfo, TableInfo } from '../db/table-introspection.js';
import { didYouMean } from './did-you-mean.js';
import type { FieldExpression } from './field-expression.js';
import type { RelationDefinition } from './relation-definition.js';

export type PayloadFieldType =
  | 'string'
  | 'number'
  | 'boolean'
  | 'timestamp'
  | 'json'
  | 'string[]'
  | 'number[]';

/** A field expression resolved against the live schema: what it reads and what it gives. */
export interface FieldDefinition {
  readonly key: string;
  readonly expression: FieldExpression;
  /** The relations walked from the source table (none for a column of the source table). */
  readonly relations: readonly RelationDefinition[];
  /** The column read at the end (absent for a count). */
  readonly column: ColumnInfo | undefined;
  /** The value is a list: the path goes through a `many` relation. */
  readonly list: boolean;
  readonly type: PayloadFieldType;
  /** The value's type as a column would have it (filters parse their values by it). */
  readonly valueColumn: ColumnInfo;
}

const numericTypes = new Set(['int2', 'int4', 'int8', 'float4', 'float8', 'numeric']);
/** Types a distinct list can group (json has no equality operator). */
const ungroupable = new Set(['json', 'xml', 'point', 'polygon', 'box', 'path', 'line', 'circle']);

export function payloadFieldType(column: Pick<ColumnInfo, 'baseType'>): PayloadFieldType {
  const base = column.baseType;
  if (numericTypes.has(base)) return 'number';
  if (base === 'bool') return 'boolean';
  if (['timestamp', 'timestamptz', 'date'].includes(base)) return 'timestamp';
  if (base === 'json' || base === 'jsonb') return 'json';
  if (['_int2', '_int4', '_int8', '_float4', '_float8', '_numeric'].includes(base)) return 'number[]';
  if (base.startsWith('_')) return 'string[]';
  return 'string';
}

/** Whether a list of this column keeps its values' type (numbers), or reads as text. */
export function listKeepsType(column: ColumnInfo): boolean {
  return numericTypes.has(column.baseType);
}

/**
 * Resolves an expression against the source table and its relations. Problems are pushed with
 * `at` (the config key) and undefined is returned; nothing is thrown.
 */
export function resolveField(
  expression: FieldExpression,
  at: string,
  source: TableInfo,
  relations: ReadonlyMap<string, RelationDefinition>,
  problems: string[],
): FieldDefinition | undefined {
  const { path, aggregate } = expression;
  const relationNames = aggregate === 'count' ? path : path.slice(0, -1);
  const chain: RelationDefinition[] = [];
  let available = relations;
  let owner = `${source.name.schema}.${source.name.name}`;
  for (const name of relationNames) {
    const relation = available.get(name);
    if (!relation) {
      const known = [...available.keys()];
      problems.push(
        `${at}: "${expression.key}" names no relation "${name}" of ${owner}${known.length > 0 ? ` (relations: ${known.join(', ')})` : ''}${didYouMean(name, known)}`,
      );
      return undefined;
    }
    chain.push(relation);
    available = relation.relations;
    owner = relation.path;
  }
  const list = chain.some((relation) => relation.kind === 'many');
  if (aggregate === 'count') {
    if (chain.length === 0) {
      problems.push(`${at}: "${expression.key}": count applies to a relation ("variants | count")`);
      return undefined;
    }
    const valueColumn: ColumnInfo = {
      name: expression.key,
      type: 'bigint',
      baseType: 'int8',
      nullable: false,
      hasDefault: false,
      isGenerated: false,
    };
    return {
      key: expression.key,
      expression,
      relations: chain,
      column: undefined,
      list: false,
      type: 'number',
      valueColumn,
    };
  }
  const columnName = path.at(-1)!;
  const table = chain.at(-1)?.tableInfo ?? source;
  const column = table.columns.get(columnName);
  if (!column) {
    problems.push(
      chain.length === 0 && path.length === 1
        ? `${at}: column "${columnName}" does not exist in ${owner}${didYouMean(columnName, table.columns.keys())}`
        : `${at}: "${expression.key}": column "${columnName}" does not exist in ${table.name.schema}.${table.name.name}${didYouMean(columnName, table.columns.keys())}`,
    );
    return undefined;
  }
  if (aggregate === 'distinct' && !list) {
    problems.push(`${at}: "${expression.key}": distinct applies to a list, a path through a "many" relation`);
    return undefined;
  }
  if (list && (column.baseType.startsWith('_') || ungroupable.has(column.baseType))) {
    problems.push(
      `${at}: "${expression.key}": column "${columnName}" has type ${column.type}, which a list cannot hold; use a scalar column`,
    );
    return undefined;
  }
  if (!list)
    return {
      key: expression.key,
      expression,
      relations: chain,
      column,
      list,
      type: payloadFieldType(column),
      valueColumn: column,
    };
  const keepsType = listKeepsType(column);
  const valueColumn: ColumnInfo = {
    ...column,
    name: expression.key,
    type: keepsType ? `${column.type}[]` : 'text[]',
    baseType: keepsType ? `_${column.baseType}` : '_text',
  };
  return {
    key: expression.key,
    expression,
    relations: chain,
    column,
    list,
    type: keepsType ? 'number[]' : 'string[]',
    valueColumn,
  };
}
