import type { PayloadField } from '../../config/collection-definition.js';
import type { FilterNode, FilterValue } from '../filter-tree.js';
import { filterColumn, timestampMicros } from './lancedb-config.js';

/**
 * Compiles a validated filter to a LanceDB (DataFusion SQL) predicate over the typed filter
 * columns. Values are rendered as literals (LanceDB has no bind parameters): strings with
 * quotes doubled, numbers only when finite, timestamps as integers. `ne` and `not` are
 * "is not true", like the pgvector store: a record without the field matches `ne`.
 */
export function compileLancedbFilter(node: FilterNode): string {
  switch (node.kind) {
    case 'and':
    case 'or':
      return `(${node.children.map(compileLancedbFilter).join(node.kind === 'and' ? ' AND ' : ' OR ')})`;
    case 'not':
      return `((${compileLancedbFilter(node.child)}) IS NOT TRUE)`;
    case 'exists':
      return `(${filterColumn(node.field.name)} IS ${node.exists ? 'NOT NULL' : 'NULL'})`;
    case 'in': {
      const column = filterColumn(node.field.name);
      const values = node.values.map((value) => literal(node.field, value)).join(', ');
      if (node.field.type.endsWith('[]')) return `array_has_any(${column}, make_array(${values}))`;
      return `(${column} IN (${values}))`;
    }
    case 'compare': {
      const column = filterColumn(node.field.name);
      const value = literal(node.field, node.value);
      if (node.op === 'eq' || node.op === 'ne') {
        // Arrays: "equals" means "contains the value".
        const equal = node.field.type.endsWith('[]')
          ? `array_has(${column}, ${value})`
          : `(${column} = ${value})`;
        return node.op === 'eq' ? equal : `((${equal}) IS NOT TRUE)`;
      }
      const operator = { gt: '>', gte: '>=', lt: '<', lte: '<=' }[node.op];
      return `(${column} ${operator} ${value})`;
    }
  }
}

export function sqlString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function literal(field: PayloadField, value: FilterValue): string {
  if (field.type === 'timestamp') return String(timestampMicros(String(value)));
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`not a finite number: ${value}`);
    const text = String(value);
    return /e/i.test(text) ? `CAST('${text}' AS DOUBLE)` : text;
  }
  if (typeof value === 'boolean') return value ? '1' : '0';
  return sqlString(String(value));
}
