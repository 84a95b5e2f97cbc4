import type { PayloadField } from '../config/collection-definition.js';

/** A filter operand, checked against its field's column type when the filter is parsed. */
export type FilterValue = string | number | boolean;

/**
 * The filter language, a small JSON tree over a collection's declared payload fields:
 *
 *   { "and": [F, …] }   { "or": [F, …] }   { "not": F }
 *   { "<field>": <value> }                                  equality
 *   { "<field>": { "eq" | "ne": v, "in": [v, …], "gt" | "gte" | "lt" | "lte": v, "exists": true|false } }
 *
 * Several keys in one object are ANDed. Values must match the field's column type (the parser,
 * src/search/filter.ts, checks them). The tenant is never part of a filter: every search is
 * scoped to the caller's tenant before any filter applies. The tree is part of the store
 * contract: each store compiles it to its own query language.
 */
export type FilterNode =
  | { kind: 'and' | 'or'; children: FilterNode[] }
  | { kind: 'not'; child: FilterNode }
  | {
      kind: 'compare';
      field: PayloadField;
      op: 'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte';
      value: FilterValue;
    }
  | { kind: 'in'; field: PayloadField; values: FilterValue[] }
  | { kind: 'exists'; field: PayloadField; exists: boolean };
