import type { PayloadField } from '../config/collection-definition.js';
import {
  describeValue,
  float4Fits,
  integerFits,
  integerRanges,
  isIntegerType,
  isIsoDateTime,
  textProblem,
} from '../db/postgres-value-checks.js';
import { ErrorCode, VectorsyncError } from '../errors.js';

export type { FilterValue } from '../stores/filter-tree.js';

import type { FilterValue } from '../stores/filter-tree.js';

/**
 * Checks one filter operand against the field's source column type, so that every value a
 * filter lets through is one each store (and Postgres' casts in pgvector) accepts: integers
 * within the column's range, finite numbers, real ISO 8601 dates, Unicode text without NUL.
 * For an array column the operand is one element.
 */
export function checkFilterValue(field: PayloadField, value: unknown, op: string): FilterValue {
  if (field.type === 'json') {
    throw refused(field, op, value, `field "${field.name}" is JSON; only "exists" applies to it`);
  }
  const base = field.type.endsWith('[]') ? field.column.baseType.replace(/^_/, '') : field.column.baseType;
  const problem = problemWith(field, base, value);
  if (problem) {
    throw refused(field, op, value, `"${field.name}" ${op} expects ${problem}, got ${describeValue(value)}`);
  }
  return value as FilterValue;
}

/** What the value should have been, or undefined when it is fine. */
function problemWith(field: PayloadField, base: string, value: unknown): string | undefined {
  switch (field.type) {
    case 'number':
    case 'number[]': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return 'a number';
      if (isIntegerType(base)) {
        const [min, max] = integerRanges[base]!;
        // int8 beyond 2^53 cannot be written exactly as a JSON number.
        const low = base === 'int8' ? Number.MIN_SAFE_INTEGER : Number(min);
        const high = base === 'int8' ? Number.MAX_SAFE_INTEGER : Number(max);
        return integerFits(base, value) ? undefined : `an integer from ${low} to ${high} (${base})`;
      }
      if (base === 'float4' && !float4Fits(value)) return 'a number within the range of real (float4)';
      return undefined;
    }
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'true or false';
    case 'timestamp':
      return typeof value === 'string' && isIsoDateTime(value)
        ? undefined
        : 'an ISO 8601 date or date-time (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM], years 0001 to 9999)';
    default: {
      if (typeof value !== 'string') return 'a string';
      const text = textProblem(value);
      return text ? `a string that is valid Unicode without NUL (this one ${text})` : undefined;
    }
  }
}

function refused(field: PayloadField, op: string, value: unknown, message: string): VectorsyncError {
  return new VectorsyncError(ErrorCode.InvalidFilter, `invalid filter: ${message}`, {
    details: { field: field.name, operator: op, value: describeValue(value) },
  });
}
