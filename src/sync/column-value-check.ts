import {
  describeValue,
  float4Fits,
  integerFits,
  integerRanges,
  isIntegerType,
  isIsoDateTime,
  parseIntegerText,
  textProblem,
} from '../db/postgres-value-checks.js';
import type { ColumnInfo } from '../db/table-introspection.js';

/** Deeper JSON than this is refused: Postgres' jsonb parser and JSON.stringify both recurse. */
export const MAX_JSON_DEPTH = 1000;

const textTypes = new Set(['text', 'varchar', 'bpchar', 'citext', 'name']);
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const decimalPattern = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/**
 * What is wrong with a document body's JSON value for a column, or undefined when Postgres
 * will store it as given: the JSON type the column type needs, integer ranges, numeric
 * precision, finite floats, real dates, text without NUL or lone surrogates, one-dimensional
 * arrays of the element type, and JSON that jsonb can hold.
 */
export function columnValueProblem(column: ColumnInfo, value: unknown): string | undefined {
  if (value === null) return column.nullable ? undefined : 'must not be null';
  const base = column.baseType;
  if (base === 'json' || base === 'jsonb') return jsonProblem(value, base === 'jsonb');
  if (base.startsWith('_')) {
    if (!Array.isArray(value)) return `must be an array (${column.type}), got ${describeValue(value)}`;
    const element = base.slice(1);
    for (const [index, item] of value.entries()) {
      if (item === null) continue;
      if (Array.isArray(item) && element !== 'json' && element !== 'jsonb')
        return `must be a one-dimensional array (${column.type}); element ${index} is an array`;
      const problem = scalarProblem(element, elementType(column.type), item);
      if (problem) return `element ${index} ${problem}`;
    }
    return undefined;
  }
  return scalarProblem(base, column.type, value);
}

/** `text[]` → `text`, `character varying(20)[]` → `character varying(20)`. */
function elementType(arrayType: string): string {
  return arrayType.replace(/\[\]$/, '');
}

function scalarProblem(base: string, type: string, value: unknown): string | undefined {
  const got = `got ${describeValue(value)}`;
  if (isIntegerType(base)) {
    const [min, max] = integerRanges[base]!;
    const fits =
      (typeof value === 'number' && integerFits(base, value)) ||
      // int8 beyond 2^53 can only travel exactly as a string of digits.
      (base === 'int8' && typeof value === 'string' && integerFits(base, parseIntegerText(value) ?? 0.5));
    return fits ? undefined : `must be an integer from ${min} to ${max} (${type}), ${got}`;
  }
  if (base === 'numeric' || base === 'float4' || base === 'float8') {
    const number =
      typeof value === 'number'
        ? value
        : typeof value === 'string' && decimalPattern.test(value)
          ? Number(value)
          : Number.NaN;
    if (!Number.isFinite(number)) return `must be a finite number (${type}), ${got}`;
    if (base === 'float4' && !float4Fits(number)) return `is out of the range of ${type}, ${got}`;
    // "1e-400": Postgres refuses a non-zero float that rounds to 0 (JSON numbers arrive rounded).
    if (base !== 'numeric' && number === 0 && typeof value === 'string' && /^[^eE]*[1-9]/.test(value))
      return `is too small for ${type} (it would round to 0), ${got}`;
    if (base === 'numeric' && !numericFits(type, number))
      return `has more integer digits than ${type} allows, ${got}`;
    return undefined;
  }
  if (base === 'bool') return typeof value === 'boolean' ? undefined : `must be true or false, ${got}`;
  if (base === 'timestamp' || base === 'timestamptz' || base === 'date') {
    return typeof value === 'string' && isIsoDateTime(value)
      ? undefined
      : `must be an ISO 8601 date or date-time string (YYYY-MM-DD[THH:MM:SS[.fff][Z|±HH:MM]], years 0001 to 9999), ${got}`;
  }
  if (base === 'uuid') {
    return typeof value === 'string' && uuidPattern.test(value) ? undefined : `must be a UUID string, ${got}`;
  }
  if (typeof value === 'string') {
    const text = textProblem(value);
    if (text) return text;
    const limit = /\((\d+)\)$/.exec(type);
    if (limit && (base === 'varchar' || base === 'bpchar') && [...value].length > Number(limit[1])) {
      return `is longer than ${limit[1]} characters (${type})`;
    }
    return undefined;
  }
  // Other types (enums, inet, intervals, …) take their text form; numbers and booleans print as one.
  if (!textTypes.has(base) && (typeof value === 'number' || typeof value === 'boolean')) return undefined;
  return `must be a string, ${got}`;
}

/** numeric(p, s) holds fewer than 10^(p-s) after rounding to s decimals. */
function numericFits(type: string, value: number): boolean {
  const modifiers = /\((\d+)(?:,\s*(-?\d+))?\)/.exec(type);
  if (!modifiers) return true;
  const precision = Number(modifiers[1]);
  const scale = Number(modifiers[2] ?? 0);
  return Math.abs(value) < 10 ** (precision - scale) - 0.5 * 10 ** -scale;
}

/** Walks the value without recursion (its depth is the client's choice). */
function jsonProblem(value: unknown, jsonb: boolean): string | undefined {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop()!;
    if (depth > MAX_JSON_DEPTH) return `is JSON nested deeper than ${MAX_JSON_DEPTH} levels`;
    if (typeof current === 'string') {
      const problem = stringInJsonProblem(current, jsonb);
      if (problem) return `holds a string that ${problem}`;
    } else if (Array.isArray(current)) {
      for (const item of current) stack.push({ value: item, depth: depth + 1 });
    } else if (current !== null && typeof current === 'object') {
      for (const [key, item] of Object.entries(current)) {
        const problem = stringInJsonProblem(key, jsonb);
        if (problem) return `holds a key that ${problem}`;
        stack.push({ value: item, depth: depth + 1 });
      }
    }
  }
  return undefined;
}

/** jsonb refuses \u0000 (text cannot hold it); json keeps the escape as written. */
function stringInJsonProblem(text: string, jsonb: boolean): string | undefined {
  return textProblem(jsonb ? text : text.replaceAll('\u0000', ''));
}
