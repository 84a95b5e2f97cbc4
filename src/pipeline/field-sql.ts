import type { FieldDefinition } from '../config/field-definition.js';
import { listKeepsType } from '../config/field-definition.js';
import type { RelationDefinition } from '../config/relation-definition.js';
import { quoteIdent } from '../db/sql-identifier.js';

/** The position of a related row in its owner's list, carried through the hops. */
const ORDINAL = '"__vectorsync_ordinal"';

/**
 * SQL for one field's value in a row of the source table aliased `alias`: the column itself,
 * or a subquery over the relations. A path of `one` relations gives a scalar (at most one row,
 * its `references` being unique); a path through a `many` relation gives an array in list
 * order, nulls left out, at most `limit` rows per `many` hop (a count sees every row).
 */
export function fieldSql(field: FieldDefinition, alias: string): string {
  if (field.relations.length === 0) return `${alias}.${quoteIdent(field.column!.name)}`;
  const counting = field.expression.aggregate === 'count';
  const from = relationJoins(field.relations, alias, !counting);
  if (counting) return `(SELECT count(*) FROM ${from})`;
  const last = hopAlias(field.relations.length);
  const column = field.column!;
  const value = `${last}.${quoteIdent(column.name)}`;
  if (!field.list) return `(SELECT ${value} FROM ${from})`;
  const item = listKeepsType(column) ? value : `${value}::text`;
  const order = field.relations.map((_, index) => `${hopAlias(index + 1)}.${ORDINAL}`).join(', ');
  if (field.expression.aggregate !== 'distinct')
    return `ARRAY(SELECT ${item} FROM ${from} WHERE ${value} IS NOT NULL ORDER BY ${order})`;
  // Each value once, where it first appears.
  return `ARRAY(SELECT d.v FROM (SELECT ${item} AS v, row_number() OVER (ORDER BY ${order}) AS o FROM ${from} WHERE ${value} IS NOT NULL) d GROUP BY d.v ORDER BY min(d.o))`;
}

function hopAlias(position: number): string {
  return `"__vectorsync_r${position}"`;
}

/** FROM items joining the chain of relations to the source row `alias`, one LATERAL hop each. */
function relationJoins(chain: readonly RelationDefinition[], alias: string, limited: boolean): string {
  return chain
    .map((relation, index) => {
      const owner = index === 0 ? alias : hopAlias(index);
      const hop = `${hopSql(relation, owner, limited)} ${hopAlias(index + 1)}`;
      return index === 0 ? hop : `CROSS JOIN LATERAL ${hop}`;
    })
    .join(' ');
}

/** The rows of one relation that belong to the owner row `owner`, with their list position. */
function hopSql(relation: RelationDefinition, owner: string, limited: boolean): string {
  const join = `t.${quoteIdent(relation.relatedColumn.name)} = ${owner}.${quoteIdent(relation.ownerColumn.name)}`;
  if (relation.kind === 'one')
    return `(SELECT t.*, 1::bigint AS ${ORDINAL} FROM ${relation.tableSql} t WHERE ${join})`;
  const order = relation.orderBy
    .map((entry) => `t.${quoteIdent(entry.column)}${entry.descending ? ' DESC' : ''}`)
    .join(', ');
  if (!limited) return `(SELECT t.*, 0::bigint AS ${ORDINAL} FROM ${relation.tableSql} t WHERE ${join})`;
  return `(SELECT t.*, row_number() OVER (ORDER BY ${order}) AS ${ORDINAL} FROM ${relation.tableSql} t WHERE ${join} ORDER BY ${order} LIMIT ${relation.limit})`;
}
