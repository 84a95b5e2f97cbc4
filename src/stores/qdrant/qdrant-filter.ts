import type { Schemas } from '@qdrant/js-client-rest';
import type { FilterNode, FilterValue } from '../filter-tree.js';
import { payloadKey } from './qdrant-config.js';

type Filter = Schemas['Filter'];
type Condition = Schemas['Condition'];

/**
 * Compiles a validated filter to a Qdrant filter over the payload fields (stored under `p.`).
 * Numbers compare with `range` (Qdrant's `match` has no floats; `gte = lte = v` is equality);
 * timestamps with a datetime range. `ne` and `not` are `must_not`, so a point without the
 * field matches `ne`, as in the pgvector store. `exists` is "not null": every point written
 * carries every payload field, null when the source value is null.
 */
export function compileQdrantFilter(node: FilterNode): Filter {
  switch (node.kind) {
    case 'and':
      return { must: node.children.map(compileQdrantFilter) };
    case 'or':
      return { should: node.children.map(compileQdrantFilter) };
    case 'not':
      return { must_not: [compileQdrantFilter(node.child)] };
    case 'exists': {
      const isNull: Condition = { is_null: { key: payloadKey(node.field.name) } };
      return node.exists ? { must_not: [isNull] } : { must: [isNull] };
    }
    case 'in': {
      const key = payloadKey(node.field.name);
      if (isNumeric(node.field.type))
        return { should: node.values.map((value) => equals(key, node.field.type, value)) };
      return { must: [{ key, match: { any: node.values.map(String) } }] };
    }
    case 'compare': {
      const key = payloadKey(node.field.name);
      if (node.op === 'eq') return { must: [equals(key, node.field.type, node.value)] };
      if (node.op === 'ne') return { must_not: [equals(key, node.field.type, node.value)] };
      const range = { [node.op]: rangeValue(node.field.type, node.value) };
      return { must: [{ key, range } as Condition] };
    }
  }
}

function isNumeric(type: string): boolean {
  return type === 'number' || type === 'number[]' || type === 'timestamp';
}

function equals(key: string, type: string, value: FilterValue): Condition {
  if (isNumeric(type)) {
    const bound = rangeValue(type, value);
    return { key, range: { gte: bound, lte: bound } } as Condition;
  }
  if (typeof value === 'boolean') return { key, match: { value } };
  return { key, match: { value: String(value) } };
}

function rangeValue(type: string, value: FilterValue): number | string {
  // Datetime ranges take RFC 3339 strings; normalise to UTC with milliseconds like the payload.
  if (type === 'timestamp') return new Date(String(value)).toISOString();
  return Number(value);
}
