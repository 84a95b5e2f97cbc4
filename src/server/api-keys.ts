import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SqlExecutor } from '../db/database.js';
import { ErrorCode, VectorsyncError } from '../errors.js';

/**
 * API keys are `vs_<prefix>_<secret>`. Only a SHA-256 of the whole key is stored: keys are
 * 190 bits of randomness, so a slow password hash would add latency and no safety. The
 * prefix finds the row; the hash comparison is constant-time.
 */
export interface Principal {
  keyId: number;
  name: string;
  /** The only tenant this key can read or change; null for admin keys. */
  tenant: string | null;
  admin: boolean;
}

export interface ApiKeyRecord extends Principal {
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

const keyPattern = /^vs_([a-z0-9]{10})_([A-Za-z0-9_-]{32})$/;
const tenantPattern = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

function hashKey(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

export async function createApiKey(
  db: SqlExecutor,
  input: { name: string; tenant?: string | null; admin?: boolean },
): Promise<{ key: string; record: ApiKeyRecord }> {
  const admin = input.admin ?? false;
  const tenant = input.tenant ?? null;
  if (!admin && !tenant) {
    throw new VectorsyncError(
      ErrorCode.TenantRequired,
      'a non-admin API key must be bound to a tenant (--tenant)',
    );
  }
  if (tenant !== null && !tenantPattern.test(tenant)) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `tenant "${tenant}" must be 1-128 letters, digits or _ . : -`,
      {
        details: { tenant },
      },
    );
  }
  const prefix = randomBytes(8).toString('hex').slice(0, 10);
  const key = `vs_${prefix}_${randomBytes(24).toString('base64url')}`;
  const result = await db.query<ApiKeyRow>(
    `INSERT INTO vectorsync.api_keys (name, tenant, is_admin, prefix, key_hash) VALUES ($1, $2, $3, $4, $5)
     RETURNING ${keyColumns}`,
    [input.name, tenant, admin, prefix, hashKey(key)],
  );
  return { key, record: toRecord(result.rows[0]!) };
}

/** Resolves a presented key to its principal, or throws UNAUTHENTICATED. */
export async function authenticateApiKey(db: SqlExecutor, presented: string | undefined): Promise<Principal> {
  if (!presented) {
    throw new VectorsyncError(
      ErrorCode.Unauthenticated,
      'missing API key: send "Authorization: Bearer <key>" or "X-API-Key: <key>"',
    );
  }
  const match = keyPattern.exec(presented);
  if (!match) throw new VectorsyncError(ErrorCode.Unauthenticated, 'malformed API key');
  const result = await db.query<ApiKeyRow & { key_hash: Buffer | Uint8Array }>(
    `SELECT ${keyColumns}, key_hash FROM vectorsync.api_keys WHERE prefix = $1`,
    [match[1]],
  );
  const row = result.rows[0];
  if (!row || !timingSafeEqual(Buffer.from(row.key_hash), hashKey(presented))) {
    throw new VectorsyncError(ErrorCode.Unauthenticated, 'unknown API key');
  }
  if (row.revoked_at) throw new VectorsyncError(ErrorCode.Unauthenticated, 'API key has been revoked');
  return { keyId: row.id, name: row.name, tenant: row.tenant, admin: row.is_admin };
}

export async function touchApiKey(db: SqlExecutor, keyId: number): Promise<void> {
  await db.query('UPDATE vectorsync.api_keys SET last_used_at = now() WHERE id = $1', [keyId]);
}

export async function listApiKeys(db: SqlExecutor): Promise<ApiKeyRecord[]> {
  const result = await db.query<ApiKeyRow>(`SELECT ${keyColumns} FROM vectorsync.api_keys ORDER BY id`);
  return result.rows.map(toRecord);
}

export async function revokeApiKey(db: SqlExecutor, prefixOrId: string): Promise<ApiKeyRecord> {
  const result = await db.query<ApiKeyRow>(
    `UPDATE vectorsync.api_keys SET revoked_at = coalesce(revoked_at, now())
      WHERE prefix = $1 OR id::text = $1 RETURNING ${keyColumns}`,
    [prefixOrId],
  );
  const row = result.rows[0];
  if (!row)
    throw new VectorsyncError(ErrorCode.NotFound, `no API key with prefix or id "${prefixOrId}"`, {
      details: { key: prefixOrId },
    });
  return toRecord(row);
}

const keyColumns = 'id, name, tenant, is_admin, prefix, created_at, last_used_at, revoked_at';

interface ApiKeyRow {
  id: number;
  name: string;
  tenant: string | null;
  is_admin: boolean;
  prefix: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

function toRecord(row: ApiKeyRow): ApiKeyRecord {
  const iso = (value: Date | null) => (value ? new Date(value).toISOString() : null);
  return {
    keyId: row.id,
    name: row.name,
    tenant: row.tenant,
    admin: row.is_admin,
    prefix: row.prefix,
    createdAt: new Date(row.created_at).toISOString(),
    lastUsedAt: iso(row.last_used_at),
    revokedAt: iso(row.revoked_at),
  };
}
