import { describeValue } from '../db/postgres-value-checks.js';
import { type ErrorCode, VectorsyncError } from '../errors.js';

const INT8_MAX = 9223372036854775807n;

/**
 * A bigint id from a request (an outbox event, an index operation) as its canonical decimal
 * string: a string of digits within int8, or a JSON number that is an exact (safe) integer.
 * It stays a string from here to the SQL parameter, since ids beyond 2^53 do not survive
 * Number(). Anything else is a 400 naming the parameter and the value.
 */
export function parseBigintId(value: unknown, name: string, code: ErrorCode): string {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  if (typeof value === 'string' && /^\d{1,19}$/.test(value) && BigInt(value) <= INT8_MAX) {
    return BigInt(value).toString();
  }
  throw new VectorsyncError(
    code,
    `${name} must be an id: a decimal integer from 0 to ${INT8_MAX} (got ${describeValue(value)})`,
    { details: { field: name, value: describeValue(value) } },
  );
}
