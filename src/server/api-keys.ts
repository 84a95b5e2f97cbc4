import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SqlExecutor } from '../db/database.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import { assertTenantName } from './tenant-name.js';

/**
 * API keys are `vs_<prefix>_<secret>`. Only a SHA-256 of the whole key is stored: keys are
 * 190 bits of randomness, so a slow password hash would add latency and no safety. The
 * prefix finds the row; the hash comparison is constant-time.
 */

/**
 * `tenant`: the data endpoints of its tenant. `service`: the data endpoints of any tenant, named
 * per request. `admin`: the operational endpoints, and the data endpoints of a tenant named per
 * request. A key is of exactly one kind (migration 000007).
 */
export type ApiKeyKind = 'tenant' | 'service' | 'admin';

export interface Principal {
  keyId: number;
  name: string;
  kind: ApiKeyKind;
  /** The only tenant a `tenant` key can read or change; null for the other kinds. */
  tenant: string | null;
}

export interface ApiKeyRecord extends Principal {
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

const keyPattern = /^vs_([a-z0-9]{10})_([A-Za-z0-9_-]{32})$/;

export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

/** What `createApiKey` takes: exactly one of a tenant, `service` or `admin`. */
export interface CreateApiKeyInput {
  name: string;
  tenant?: string | null;
  service?: boolean;
  admin?: boolean;
}

export async function createApiKey(
  db: SqlExecutor,
  input: CreateApiKeyInput,
): Promise<{ key: string; record: ApiKeyRecord }> {
  const tenant = input.tenant ?? null;
  const kind = kindOf(input);
  if (tenant !== null) assertTenantName(tenant, 'tenant');
  const prefix = randomBytes(8).toString('hex').slice(0, 10);
  const key = `vs_${prefix}_${randomBytes(24).toString('base64url')}`;
  const result = await db.query<ApiKeyRow>(
    `INSERT INTO vectorsync.api_keys (name, kind, tenant, prefix, key_hash) VALUES ($1, $2, $3, $4, $5)
     RETURNING ${keyColumns}`,
    [input.name, kind, tenant, prefix, hashApiKey(key)],
  );
  return { key, record: toRecord(result.rows[0]!) };
}

function kindOf(input: CreateApiKeyInput): ApiKeyKind {
  const chosen = [
    ...(input.tenant ? [`tenant "${input.tenant}"`] : []),
    ...(input.service ? ['service'] : []),
    ...(input.admin ? ['admin'] : []),
  ];
  if (chosen.length === 0) {
    throw new VectorsyncError(
      ErrorCode.TenantRequired,
      'an API key needs a kind: a tenant (--tenant <tenant>), --service (any tenant, named per request) or --admin (operational endpoints)',
    );
  }
  if (chosen.length > 1) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `an API key is of one kind, not ${chosen.join(' and ')}: a tenant key reads one tenant's data, a service key any tenant's (named per request), an admin key serves the operational endpoints; create one key per use`,
      { details: { kinds: chosen } },
    );
  }
  return input.admin ? 'admin' : input.service ? 'service' : 'tenant';
}

/** Why a presented key does not authenticate; `lookedUp`: the answer came from the database. */
export type ApiKeyLookup =
  | { ok: true; principal: Principal; prefix: string }
  | { ok: false; error: VectorsyncError; lookedUp: boolean; prefix?: string };

/**
 * Resolves a presented key to its principal, or to the UNAUTHENTICATED error to answer. A
 * missing or malformed key is refused without a query.
 */
export async function lookUpApiKey(db: SqlExecutor, presented: string | undefined): Promise<ApiKeyLookup> {
  if (!presented) {
    return {
      ok: false,
      lookedUp: false,
      error: new VectorsyncError(
        ErrorCode.Unauthenticated,
        'missing API key: send "Authorization: Bearer <key>" or "X-API-Key: <key>"',
      ),
    };
  }
  const match = keyPattern.exec(presented);
  if (!match)
    return {
      ok: false,
      lookedUp: false,
      error: new VectorsyncError(ErrorCode.Unauthenticated, 'malformed API key'),
    };
  const prefix = match[1]!;
  const result = await db.query<ApiKeyRow & { key_hash: Buffer | Uint8Array }>(
    `SELECT ${keyColumns}, key_hash FROM vectorsync.api_keys WHERE prefix = $1`,
    [prefix],
  );
  const row = result.rows[0];
  if (!row || !timingSafeEqual(Buffer.from(row.key_hash), hashApiKey(presented))) {
    return {
      ok: false,
      lookedUp: true,
      error: new VectorsyncError(ErrorCode.Unauthenticated, 'unknown API key'),
    };
  }
  if (row.revoked_at)
    return {
      ok: false,
      lookedUp: true,
      prefix,
      error: new VectorsyncError(ErrorCode.Unauthenticated, 'API key has been revoked'),
    };
  return {
    ok: true,
    prefix,
    principal: { keyId: row.id, name: row.name, kind: row.kind, tenant: row.tenant },
  };
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

const keyColumns = 'id, name, kind, tenant, prefix, created_at, last_used_at, revoked_at';

interface ApiKeyRow {
  id: number;
  name: string;
  kind: ApiKeyKind;
  tenant: string | null;
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
    kind: row.kind,
    tenant: row.tenant,
    prefix: row.prefix,
    createdAt: new Date(row.created_at).toISOString(),
    lastUsedAt: iso(row.last_used_at),
    revokedAt: iso(row.revoked_at),
  };
}
