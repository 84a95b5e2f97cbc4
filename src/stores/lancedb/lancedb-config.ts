import { createHash } from 'node:crypto';
import type { PayloadField } from '../../config/collection-definition.js';
import type { StoreConfig } from '../../config/config-schema.js';

export type LancedbStoreConfig = Extract<StoreConfig, { provider: 'lancedb' }>;

/**
 * The column holding a payload field's filterable value. Payload fields are Postgres column
 * names; anything outside [a-z0-9_] is replaced and a short hash keeps distinct names distinct,
 * so the name never needs quoting in LanceDB's SQL filters.
 */
export function filterColumn(fieldName: string): string {
  const safe = fieldName.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  if (safe === fieldName) return `f_${safe}`;
  return `f_${safe}_${createHash('sha1').update(fieldName).digest('hex').slice(0, 6)}`;
}

/** The value stored in a field's filter column (timestamps as microseconds since the epoch, booleans as 1/0). */
export function filterValue(field: PayloadField, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (field.type) {
    case 'number':
      return Number(value);
    case 'boolean':
      // As 1/0: LanceDB 0.30 fails merge inserts of null booleans ("Spill has sent an error").
      return value ? 1 : 0;
    case 'timestamp':
      return timestampMicros(String(value));
    case 'json':
      return JSON.stringify(value);
    case 'string[]':
      return Array.isArray(value) ? value.map(String) : null;
    case 'number[]':
      return Array.isArray(value) ? value.map(Number) : null;
    default:
      return String(value);
  }
}

export function timestampMicros(iso: string): bigint {
  return BigInt(Date.parse(iso)) * 1000n;
}

/** LanceDB writes its own diagnostics to stderr unless told otherwise; the library stays quiet. */
export function silenceLancedbLogs(env: NodeJS.ProcessEnv = process.env): void {
  env.LANCEDB_LOG ??= 'off';
}
