import type { FilterNode, FilterValue } from '../filter-tree.js';

/**
 * Compiles a validated filter to a parameterised SQL predicate over `<alias>.payload`.
 * Field names and values are always parameters; only operators are spliced in. Equality
 * uses jsonb containment (`@>`), which the payload's GIN index serves. `ne` and `not` are
 * "is not true", so a row without the field matches `ne` (it is not equal to the value).
 */
export function compileFilter(node: FilterNode, alias: string, params: unknown[]): string {
  const param = (value: unknown, cast: string) => {
    params.push(value);
    return `$${params.length}::${cast}`;
  };
  const payload = `${alias}.payload`;
  switch (node.kind) {
    case 'and':
    case 'or':
      return `(${node.children.map((child) => compileFilter(child, alias, params)).join(node.kind === 'and' ? ' AND ' : ' OR ')})`;
    case 'not':
      return `((${compileFilter(node.child, alias, params)}) IS NOT TRUE)`;
    case 'exists': {
      const test = `coalesce(jsonb_typeof(${payload} -> ${param(node.field.name, 'text')}), 'null') ${node.exists ? '<>' : '='} 'null'`;
      return `(${test})`;
    }
    case 'in': {
      const { type, name } = node.field;
      const key = param(name, 'text');
      if (type === 'string[]') return `(${payload} -> ${key} ?| ${param(node.values.map(String), 'text[]')})`;
      if (type === 'number[]') {
        return `(EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(${payload} -> ${key}) = 'array' THEN ${payload} -> ${key} END) AS e(v) WHERE (e.v #>> '{}')::numeric = ANY(${param(node.values, 'numeric[]')})))`;
      }
      const cast = scalarCast(type);
      const column = cast === 'text' ? `(${payload} ->> ${key})` : `(${payload} ->> ${key})::${cast}`;
      return `(${column} = ANY(${param(node.values, `${cast}[]`)}))`;
    }
    case 'compare': {
      const { type, name } = node.field;
      if (node.op === 'eq' || node.op === 'ne') {
        const equal = equality(payload, type, name, node.value, param);
        return node.op === 'eq' ? equal : `((${equal}) IS NOT TRUE)`;
      }
      const cast = scalarCast(type);
      const operator = { gt: '>', gte: '>=', lt: '<', lte: '<=' }[node.op];
      return `((${payload} ->> ${param(name, 'text')})::${cast} ${operator} ${param(node.value, cast)})`;
    }
  }
}

function equality(
  payload: string,
  type: string,
  name: string,
  value: FilterValue,
  param: (value: unknown, cast: string) => string,
): string {
  if (type === 'timestamp')
    return `((${payload} ->> ${param(name, 'text')})::timestamptz = ${param(value, 'timestamptz')})`;
  // Arrays: "equals" means "contains the value".
  const contained = type.endsWith('[]') ? { [name]: [value] } : { [name]: value };
  return `(${payload} @> ${param(JSON.stringify(contained), 'jsonb')})`;
}

function scalarCast(type: string): string {
  switch (type) {
    case 'number':
      return 'numeric';
    case 'timestamp':
      return 'timestamptz';
    case 'boolean':
      return 'boolean';
    default:
      return 'text';
  }
}
