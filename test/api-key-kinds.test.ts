import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { loadMigrations } from '../src/db/migrator.js';
import { demoConfig } from '../src/demo/demo-schema.js';
import { isVectorsyncError } from '../src/errors.js';
import { createVectorsyncClient } from '../src/library/http-client.js';
import type { LogFields, Logger } from '../src/logger.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { createApiKey, listApiKeys } from '../src/server/api-keys.js';
import { createServer } from '../src/server/create-server.js';
import { runCli } from './helpers/cli-process.js';
import { createProductsTable, openProductsRuntime } from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';

function recordingLogger(lines: LogFields[]): Logger {
  const logger: Logger = {
    debug: () => undefined,
    info: (fields, message) => void lines.push({ ...fields, message }),
    warn: () => undefined,
    error: () => undefined,
    child: () => logger,
  };
  return logger;
}

describe('API key kinds: tenant, service and admin keys', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let app: FastifyInstance;
  const logLines: LogFields[] = [];
  const keys = { acme: '', service: '', admin: '' };

  before(async () => {
    testDb = await createTestDatabase('api_key_kinds');
    await createProductsTable(testDb.db);
    runtime = await openProductsRuntime(testDb);
    app = createServer({ runtime, logger: recordingLogger(logLines) });
    keys.acme = (await createApiKey(testDb.db, { name: 'acme-app', tenant: 'acme' })).key;
    keys.service = (await createApiKey(testDb.db, { name: 'backend', service: true })).key;
    keys.admin = (await createApiKey(testDb.db, { name: 'ops', admin: true })).key;
  });

  after(async () => {
    await app.close();
    await runtime.close();
    await testDb.drop();
  });

  const call = (
    method: 'GET' | 'POST',
    url: string,
    key: string,
    tenant?: string | string[],
    payload?: object,
  ) =>
    app.inject({
      method,
      url,
      headers: {
        authorization: `Bearer ${key}`,
        ...(tenant === undefined ? {} : { 'x-vectorsync-tenant': tenant }),
      },
      ...(payload ? { payload } : {}),
    });
  const errorOf = (response: LightMyRequestResponse) =>
    response.json().error as { code: string; message: string; details: Record<string, unknown> };
  const jacket = (id: string) => ({
    article_id: id,
    name: 'Storm jacket',
    description: 'A storm jacket',
    price: 80,
  });
  const documents = '/v1/collections/products/documents';

  it('refuses a key of two kinds, or of none, in createApiKey and in the database', async () => {
    for (const input of [
      { name: 'both', tenant: 'acme', admin: true },
      { name: 'both', tenant: 'acme', service: true },
      { name: 'both', service: true, admin: true },
    ]) {
      await assert.rejects(
        createApiKey(testDb.db, input),
        (error) => isVectorsyncError(error, 'INVALID_REQUEST') && /one kind/.test(error.message),
        JSON.stringify(input),
      );
    }
    await assert.rejects(createApiKey(testDb.db, { name: 'none' }), (error) =>
      isVectorsyncError(error, 'TENANT_REQUIRED'),
    );
    const insert = (kind: string, tenant: string | null) =>
      testDb.db.query(
        "INSERT INTO vectorsync.api_keys (name, kind, tenant, prefix, key_hash) VALUES ('x', $1, $2, md5(random()::text), '\\x00')",
        [kind, tenant],
      );
    await assert.rejects(insert('admin', 'acme'), /api_keys_tenant_iff_tenant_kind/);
    await assert.rejects(insert('service', 'acme'), /api_keys_tenant_iff_tenant_kind/);
    await assert.rejects(insert('tenant', null), /api_keys_tenant_iff_tenant_kind/);
    await assert.rejects(insert('root', null), /api_keys_kind/);
    assert.deepEqual(
      (await listApiKeys(testDb.db)).map((record) => [record.name, record.kind, record.tenant]),
      [
        ['acme-app', 'tenant', 'acme'],
        ['backend', 'service', null],
        ['ops', 'admin', null],
      ],
    );
  });

  it('lets a service key act for the tenant its header names, on data endpoints only', async () => {
    const created = await call('POST', documents, keys.service, 'acme', jacket('0777000001'));
    assert.equal(created.statusCode, 201, created.body);
    assert.equal(created.json().tenant_id, 'acme');
    const asAcme = await call('GET', `${documents}/0777000001`, keys.acme);
    assert.equal(asAcme.statusCode, 200, 'the tenant key sees what the service key wrote for it');
    const asGlobex = await call('GET', `${documents}/0777000001`, keys.service, 'globex');
    assert.equal(asGlobex.statusCode, 404, 'named as another tenant, the service key sees nothing of acme');
    assert.equal(
      (await call('GET', '/v1/collections/products/search?q=storm', keys.service, 'acme')).statusCode,
      200,
    );

    const bare = await call('GET', `${documents}/0777000001`, keys.service);
    assert.equal(bare.statusCode, 400);
    assert.equal(errorOf(bare).code, 'TENANT_REQUIRED');
    assert.match(errorOf(bare).message, /x-vectorsync-tenant/);

    for (const path of ['/v1/sync/status', '/v1/sync/events']) {
      const response = await call('GET', path, keys.service, 'acme');
      assert.equal(response.statusCode, 403, path);
      assert.equal(errorOf(response).code, 'FORBIDDEN');
    }
  });

  it('lets an admin key act for a named tenant, and keeps its operational endpoints', async () => {
    const fetched = await call('GET', `${documents}/0777000001`, keys.admin, 'acme');
    assert.equal(fetched.statusCode, 200, fetched.body);
    const bare = await call('GET', `${documents}/0777000001`, keys.admin);
    assert.equal(bare.statusCode, 400);
    assert.equal(errorOf(bare).code, 'TENANT_REQUIRED');
    assert.match(errorOf(bare).message, /x-vectorsync-tenant/);
    assert.equal((await call('GET', '/v1/sync/status', keys.admin)).statusCode, 200);
  });

  it('lets a tenant key name its own tenant and refuses another with TENANT_MISMATCH', async () => {
    assert.equal((await call('GET', `${documents}/0777000001`, keys.acme, 'acme')).statusCode, 200);
    const other = await call('GET', `${documents}/0777000001`, keys.acme, 'globex');
    assert.equal(other.statusCode, 403);
    assert.equal(errorOf(other).code, 'TENANT_MISMATCH');
    assert.match(errorOf(other).message, /"globex"/);
    const write = await call('POST', documents, keys.acme, 'globex', jacket('0777000002'));
    assert.equal(write.statusCode, 403, 'nothing written for another tenant');
    const count = await testDb.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM products WHERE article_id = '0777000002'",
    );
    assert.equal(count.rows[0]?.n, 0);
  });

  it('refuses a tenant header that is not a tenant name, naming the value', async () => {
    for (const [key, value] of [
      [keys.service, 'ac me'],
      [keys.service, '-acme'],
      [keys.admin, 'x'.repeat(129)],
      [keys.acme, 'acme/../globex'],
    ] as const) {
      const response = await call('GET', `${documents}/0777000001`, key, value);
      assert.equal(response.statusCode, 400, value);
      assert.equal(errorOf(response).code, 'INVALID_REQUEST');
      assert.ok(errorOf(response).message.includes(`"${value}"`), errorOf(response).message);
    }
    const twice = await call('GET', `${documents}/0777000001`, keys.service, ['acme', 'globex']);
    assert.equal(twice.statusCode, 400);
    assert.equal(errorOf(twice).code, 'INVALID_REQUEST');
  });

  it('logs the tenant a request acted for, the key, and whether the header named the tenant', async () => {
    logLines.length = 0;
    await call('GET', `${documents}/0777000001`, keys.service, 'acme');
    await call('GET', `${documents}/0777000001`, keys.acme);
    const requests = logLines.filter((line) => line.message === 'request');
    assert.deepEqual(
      requests.map((line) => [line.key, line.tenant, line.tenantFromHeader, line.status]),
      [
        ['backend', 'acme', true, 200],
        ['acme-app', 'acme', false, 200],
      ],
    );
  });

  it('vectorsync/client sends the client’s or the call’s tenant with a service key', async () => {
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const client = createVectorsyncClient({ url: address, apiKey: keys.service, tenant: 'acme' });
    assert.equal((await client.documents.get('products', '0777000001')).tenant_id, 'acme');
    await assert.rejects(
      client.documents.get('products', '0777000001', { tenant: 'globex' }),
      (error) => isVectorsyncError(error, 'DOCUMENT_NOT_FOUND'),
      'the call’s tenant wins over the client’s',
    );
    await assert.rejects(
      createVectorsyncClient({ url: address, apiKey: keys.service }).documents.get('products', '0777000001'),
      (error) => isVectorsyncError(error, 'TENANT_REQUIRED'),
    );
  });

  it('vectorsync keys create refuses --tenant with --admin, creates --service keys, and keys list shows the kind', async () => {
    const config = { ...demoConfig({ dimensions: 64 }), databaseUrl: testDb.url };
    const both = await runCli(config, ['keys', 'create', '--name', 'both', '--tenant', 'acme', '--admin']);
    assert.notEqual(both.code, 0);
    assert.match(both.output, /one kind, not tenant "acme" and admin/);
    const service = await runCli(config, ['keys', 'create', '--name', 'cli-backend', '--service']);
    assert.equal(service.code, 0, service.output);
    assert.match(service.stdout, /^vs_[a-z0-9]{10}_/);
    const listed = await runCli(config, ['keys', 'list']);
    assert.match(listed.stdout, /cli-backend\s+service/);
    assert.ok(!listed.stdout.includes('both'), 'the refused key was not written');
  });
});

describe('migration 000007 (API key kinds)', () => {
  it('turns a key that was both admin and bound to a tenant into a tenant key, and keeps the others', async () => {
    const testDb = await createTestDatabase('api_key_kinds_migration', { empty: true });
    try {
      await testDb.db.query('CREATE SCHEMA vectorsync');
      const migrations = await loadMigrations();
      for (const migration of migrations.filter((candidate) => candidate.id < 7))
        await testDb.db.query(migration.sql);
      await testDb.db.query(
        `INSERT INTO vectorsync.api_keys (name, tenant, is_admin, prefix, key_hash) VALUES
           ('both', 'acme', true, 'p000000001', '\\x00'),
           ('ops', NULL, true, 'p000000002', '\\x00'),
           ('storefront', 'globex', false, 'p000000003', '\\x00')`,
      );
      const kinds = migrations.find((candidate) => candidate.id === 7);
      assert.ok(kinds, 'migration 000007 exists');
      await testDb.db.query(kinds.sql);
      const rows = await testDb.db.query<{
        name: string;
        kind: string;
        tenant: string | null;
        is_admin: boolean;
      }>('SELECT name, kind, tenant, is_admin FROM vectorsync.api_keys ORDER BY id');
      assert.deepEqual(
        rows.rows.map((row) => ({ ...row })),
        [
          { name: 'both', kind: 'tenant', tenant: 'acme', is_admin: false },
          { name: 'ops', kind: 'admin', tenant: null, is_admin: true },
          { name: 'storefront', kind: 'tenant', tenant: 'globex', is_admin: false },
        ],
      );
    } finally {
      await testDb.drop();
    }
  });
});
