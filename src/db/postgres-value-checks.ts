/**
 * What Postgres will accept for a column type, checked in JavaScript before a value is sent:
 * a value that passes here is never refused by the server's input functions (so a client's
 * mistake is a 400 that names the field, not a database error). Shared by the documents API
 * (values written to source columns) and filters (values compared with payload fields).
 */

/** Inclusive ranges of the integer types, as bigints (int8 does not fit a double). */
export const integerRanges: Readonly<Record<string, readonly [bigint, bigint]>> = {
  int2: [-32768n, 32767n],
  int4: [-2147483648n, 2147483647n],
  int8: [-9223372036854775808n, 9223372036854775807n],
};

export function isIntegerType(baseType: string): boolean {
  return baseType in integerRanges;
}

/** True when `value` is an integer the column type can hold (a JS number must also be exact). */
export function integerFits(baseType: string, value: number | bigint): boolean {
  const range = integerRanges[baseType];
  if (!range) return false;
  if (typeof value === 'number' && !Number.isSafeInteger(value)) return false;
  const big = BigInt(value);
  return big >= range[0] && big <= range[1];
}

/** A decimal integer string (int8 values beyond 2^53 travel as strings). */
export function parseIntegerText(text: string): bigint | undefined {
  return /^-?\d{1,20}$/.test(text) ? BigInt(text) : undefined;
}

/**
 * Whether float4 stores `value` without Postgres' "out of range for type real": too large
 * for a float, or non-zero but rounding to zero.
 */
export function float4Fits(value: number): boolean {
  const single = Math.fround(value);
  return Number.isFinite(single) && (single !== 0 || value === 0);
}

/** NUL is the one character Postgres text cannot hold; a lone surrogate is not UTF-8 at all. */
export function textProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains a NUL character (\\u0000), which Postgres text cannot hold';
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text))
    return 'contains a lone UTF-16 surrogate, which is not valid Unicode';
  return undefined;
}

// YYYY-MM-DD, optionally with a time (T or a space) and then optionally Z or ±HH:MM.
const isoDateTime =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-](\d{2}):(\d{2}))?)?$/i;

/**
 * An ISO 8601 / RFC 3339 date or date-time with a real calendar day, years 0001 to 9999 and an
 * offset Postgres accepts (±15:59). Date.parse alone takes "1", "2020-02-30" and "+275760-…",
 * all of which Postgres refuses; every store also reads these strings back with Date.parse.
 */
export function isIsoDateTime(text: string): boolean {
  const match = isoDateTime.exec(text);
  if (!match) return false;
  // Absent parts are NaN, and every comparison with NaN is false.
  const [, year, month, day, hour, minute, second, , offsetHour, offsetMinute] = match.map(
    Number,
  ) as number[];
  if (year! < 1 || month! < 1 || month! > 12 || day! < 1 || day! > daysInMonth(year!, month!)) return false;
  if (hour! > 23 || minute! > 59 || second! > 59 || offsetHour! > 15 || offsetMinute! > 59) return false;
  return !Number.isNaN(Date.parse(text.replace(' ', 'T')));
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** A JSON value (or its text) for display in an error: short, and safe for any nesting depth. */
export function describeValue(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') {
    const shown = value.length > 64 ? `${value.slice(0, 64)}…` : value;
    return JSON.stringify(shown);
  }
  return String(value);
}
