import type { PayloadField, PayloadFieldType } from '../config/collection-definition.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import type { FilterNode } from '../stores/filter-tree.js';
import { checkFilterValue } from './filter-value.js';

export type { FilterNode, FilterValue } from '../stores/filter-tree.js';

const comparisonOps = new Set(['eq', 'ne', 'gt', 'gte', 'lt', 'lte']);
const knownOps = ['eq', 'ne', 'in', 'gt', 'gte', 'lt', 'lte', 'exists'];
const MAX_DEPTH = 12;
const MAX_CONDITIONS = 200;

function invalid(message: string, details: Record<string, unknown> = {}): VectorsyncError {
  return new VectorsyncError(ErrorCode.InvalidFilter, `invalid filter: ${message}`, { details });
}

/**
 * Parses a filter given as JSON text or an already-parsed value into the tree every store
 * compiles (the language is described in src/stores/filter-tree.ts).
 */
export function parseFilter(input: unknown, fields: readonly PayloadField[]): FilterNode | undefined {
  if (input === undefined || input === null || input === '') return undefined;
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (error) {
      throw invalid(`not valid JSON (${(error as Error).message})`);
    }
  }
  const byName = new Map(fields.map((field) => [field.name, field]));
  const budget = { conditions: 0 };
  return parseNode(value, byName, 0, budget);
}

function parseNode(
  value: unknown,
  fields: Map<string, PayloadField>,
  depth: number,
  budget: { conditions: number },
): FilterNode {
  if (depth > MAX_DEPTH) throw invalid(`nested deeper than ${MAX_DEPTH} levels`);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalid('each filter must be a JSON object', {
      got: Array.isArray(value) ? 'array' : typeof value,
    });
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) throw invalid('empty filter object');
  const parts: FilterNode[] = [];
  for (const [key, operand] of entries) {
    if (key === 'and' || key === 'or') {
      if (!Array.isArray(operand) || operand.length === 0)
        throw invalid(`"${key}" takes a non-empty array of filters`);
      parts.push({
        kind: key,
        children: operand.map((child) => parseNode(child, fields, depth + 1, budget)),
      });
    } else if (key === 'not') {
      parts.push({ kind: 'not', child: parseNode(operand, fields, depth + 1, budget) });
    } else {
      const field = fields.get(key);
      if (!field) {
        throw new VectorsyncError(
          ErrorCode.InvalidFilter,
          `invalid filter: unknown field "${key}" (filterable: ${[...fields.keys()].join(', ') || 'none'})`,
          { details: { field: key, filterable: [...fields.keys()] } },
        );
      }
      parts.push(...parseConditions(field, operand, budget));
    }
  }
  return parts.length === 1 ? parts[0]! : { kind: 'and', children: parts };
}

function parseConditions(
  field: PayloadField,
  operand: unknown,
  budget: { conditions: number },
): FilterNode[] {
  const count = () => {
    if (++budget.conditions > MAX_CONDITIONS) throw invalid(`more than ${MAX_CONDITIONS} conditions`);
  };
  if (operand === null || typeof operand !== 'object' || Array.isArray(operand)) {
    count();
    return [{ kind: 'compare', field, op: 'eq', value: checkFilterValue(field, operand, 'eq') }];
  }
  const nodes: FilterNode[] = [];
  for (const [op, value] of Object.entries(operand as Record<string, unknown>)) {
    count();
    if (comparisonOps.has(op)) {
      if ((op === 'gt' || op === 'gte' || op === 'lt' || op === 'lte') && !isOrdered(field.type)) {
        throw invalid(
          `operator "${op}" needs a number or timestamp field; "${field.name}" is ${field.type}`,
          { field: field.name, operator: op },
        );
      }
      nodes.push({ kind: 'compare', field, op: op as 'eq', value: checkFilterValue(field, value, op) });
    } else if (op === 'in') {
      if (!Array.isArray(value) || value.length === 0 || value.length > 1000) {
        throw invalid(`"in" on "${field.name}" takes an array of 1 to 1000 values`, {
          field: field.name,
          operator: op,
        });
      }
      nodes.push({ kind: 'in', field, values: value.map((item) => checkFilterValue(field, item, op)) });
    } else if (op === 'exists') {
      if (typeof value !== 'boolean')
        throw invalid(`"exists" on "${field.name}" takes true or false`, { field: field.name, operator: op });
      nodes.push({ kind: 'exists', field, exists: value });
    } else {
      throw new VectorsyncError(
        ErrorCode.InvalidFilter,
        `invalid filter: unknown operator "${op}" on field "${field.name}" (operators: ${knownOps.join(', ')})`,
        { details: { field: field.name, operator: op, operators: knownOps } },
      );
    }
  }
  if (nodes.length === 0) throw invalid(`no operator given for "${field.name}"`, { field: field.name });
  return nodes;
}

function isOrdered(type: PayloadFieldType): boolean {
  return type === 'number' || type === 'timestamp';
}

/** The fields a filter mentions (for logs and explain). */
export function filterFields(node: FilterNode | undefined): string[] {
  if (!node) return [];
  switch (node.kind) {
    case 'and':
    case 'or':
      return [...new Set(node.children.flatMap(filterFields))];
    case 'not':
      return filterFields(node.child);
    default:
      return [node.field.name];
  }
}
