import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadCollectionDefinitions } from '../src/config/collection-definition.js';
import { parseConfig, resolveConfig } from '../src/config/resolve-config.js';
import { demoConfig } from '../src/demo/demo-schema.js';
import { ErrorCode, isVectorsyncError } from '../src/errors.js';
import { createProductsTable } from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';

function configError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.ok(isVectorsyncError(error, ErrorCode.ConfigInvalid), `expected CONFIG_INVALID, got ${error}`);
    return error.message;
  }
  throw new Error('expected the config to be rejected');
}

describe('config validation (static)', () => {
  it('names an unknown key at any depth', () => {
    const config = demoConfig() as Record<string, any>;
    config.collections.products.textt = 'x';
    config.sync = { batchSize: 10, wakeup: 'notify' };
    const message = configError(() => parseConfig(config));
    assert.match(message, /collections\.products\.textt: unknown key/);
    assert.match(message, /sync\.wakeup: unknown key/);
  });

  it('names a missing required key and a wrong type', () => {
    const config = demoConfig() as Record<string, any>;
    delete config.collections.products.primaryKey;
    config.sync = { batchSize: 'lots' };
    const message = configError(() => parseConfig(config));
    assert.match(message, /collections\.products\.primaryKey: required/);
    assert.match(message, /sync\.batchSize:/);
  });

  it('names references to undeclared stores and embedders', () => {
    const config = demoConfig() as Record<string, any>;
    config.collections.products.store = 'qdrant_main';
    config.collections.products.embedder = 'openai';
    const message = configError(() => parseConfig(config));
    assert.match(message, /collections\.products\.store: unknown store "qdrant_main" \(declared: main\)/);
    assert.match(message, /collections\.products\.embedder: unknown embedder "openai" \(declared: default\)/);
  });

  it('rejects an unknown provider, naming the field', () => {
    const config = demoConfig() as Record<string, any>;
    config.stores.main = { provider: 'pinecone' };
    assert.match(
      configError(() => parseConfig(config)),
      /stores\.main\.provider/,
    );
  });

  it('checks the HTTP limits against each other and CORS origins (issue 13)', () => {
    const timeouts = { ...demoConfig(), server: { requestTimeoutMs: 5000, headersTimeoutMs: 8000 } };
    assert.match(
      configError(() => parseConfig(timeouts)),
      /server\.headersTimeoutMs: headersTimeoutMs must not exceed requestTimeoutMs/,
    );
    const handler = { ...demoConfig(), server: { requestTimeoutMs: 5000, handlerTimeoutMs: 5000 } };
    assert.match(
      configError(() => parseConfig(handler)),
      /server\.handlerTimeoutMs: handlerTimeoutMs must exceed/,
    );
    const path = { ...demoConfig(), server: { cors: { origins: ['https://app.example.com/'] } } };
    assert.match(
      configError(() => parseConfig(path)),
      /server\.cors\.origins\.0: an origin such as/,
    );
    const anyWithCredentials = { ...demoConfig(), server: { cors: { origins: ['*'], credentials: true } } };
    assert.match(
      configError(() => parseConfig(anyWithCredentials)),
      /server\.cors\.origins: .*"\*" is not allowed/,
    );
    const fine = parseConfig({ ...demoConfig(), server: { cors: { origins: ['http://localhost:5173'] } } });
    assert.deepEqual(fine.server.cors, {
      origins: ['http://localhost:5173'],
      credentials: false,
      maxAgeSeconds: 600,
    });
    assert.equal(fine.server.requestTimeoutMs, 30_000);
  });

  it('suggests the key or value meant by a misspelt one (issue 12)', () => {
    const config = demoConfig() as Record<string, any>;
    config.embedders.default = { provider: 'hash', dimensons: 64 };
    config.stores.main = { provider: 'pgvectr' };
    config.collections.products.sync = { mode: 'cdcc' };
    config.collections.products.analyzer = { stopwords: 'englsh' };
    delete config.collections.products.text;
    config.collections.products.txt = '{{name}}';
    config.sync = { wake: 'notfy', batchSize: 'lots' };
    config.serverr = {};
    const message = configError(() => parseConfig(config));
    assert.match(message, /embedders\.default\.dimensons: unknown key \(did you mean "dimensions"\?\)/);
    assert.match(
      message,
      /stores\.main\.provider: "pgvectr" is not one of "pgvector", "lancedb", "qdrant" \(did you mean "pgvector"\?\)/,
    );
    assert.match(
      message,
      /collections\.products\.sync\.mode: "cdcc" is not one of "outbox", "cdc", "dual-write" \(did you mean "cdc"\?\)/,
    );
    assert.match(message, /collections\.products\.analyzer\.stopwords: .*\(did you mean "english"\?\)/);
    assert.match(message, /collections\.products\.txt: unknown key \(did you mean "text"\?\)/);
    assert.match(message, /sync\.wake: "notfy" is not one of "notify", "poll" \(did you mean "notify"\?\)/);
    assert.match(message, /serverr: unknown key \(did you mean "server"\?\)/);
    // A present value of the wrong type is not reported as missing.
    assert.match(message, /sync\.batchSize: Invalid input: expected number, received string/);
    assert.doesNotMatch(message, /batchSize: required/);
  });

  it('suggests nothing when no allowed name is close', () => {
    const config = demoConfig() as Record<string, any>;
    config.collections.products.zzz = 1;
    config.sync = { wake: 'sometimes' };
    const message = configError(() => parseConfig(config));
    assert.match(message, /collections\.products\.zzz: unknown key$/m);
    assert.match(message, /sync\.wake: "sometimes" is not one of "notify", "poll"$/m);
  });

  it('suggests declared stores and embedders for unknown references', () => {
    const config = demoConfig() as Record<string, any>;
    config.collections.products.store = 'mian';
    config.collections.products.embedder = 'defualt';
    const message = configError(() => parseConfig(config));
    assert.match(message, /unknown store "mian" \(declared: main\) \(did you mean "main"\?\)/);
    assert.match(message, /unknown embedder "defualt" \(declared: default\) \(did you mean "default"\?\)/);
  });

  it('accepts the documented example config', async () => {
    const config = await resolveConfig({ path: 'examples/vectorsync.config.json', env: {} });
    assert.equal(config.collections.products?.embedder, 'offline');
    assert.equal(config.embedders.openai?.provider, 'openai');
  });

  it('reads a JSON file, applies DATABASE_URL and PORT, and freezes the result', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vectorsync-config-'));
    const path = join(dir, 'vectorsync.config.json');
    await writeFile(path, JSON.stringify({ ...demoConfig(), databaseUrl: 'postgres://from-file/db' }));
    const config = await resolveConfig({
      path,
      env: { DATABASE_URL: 'postgres://from-env/db', PORT: '9123' },
    });
    assert.equal(config.databaseUrl, 'postgres://from-env/db');
    assert.equal(config.server.port, 9123);
    assert.equal(config.sync.wake, 'notify', 'defaults applied');
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.collections.products));
    await writeFile(path, '{ "embedders": ');
    await assert.rejects(
      resolveConfig({ path, env: {} }),
      (error) => isVectorsyncError(error, ErrorCode.ConfigInvalid) && /not valid JSON/.test(error.message),
    );
    await assert.rejects(resolveConfig({ path: join(dir, 'missing.json'), env: {} }), (error) =>
      isVectorsyncError(error, ErrorCode.ConfigNotFound),
    );
  });
});

describe('config validation against the live table', () => {
  let testDb: TestDatabase;
  before(async () => {
    testDb = await createTestDatabase('config');
    await createProductsTable(testDb.db);
  });
  after(async () => {
    await testDb.drop();
  });

  it('accepts the demo collection and infers payload types', async () => {
    const definitions = await loadCollectionDefinitions(testDb.db, parseConfig(demoConfig()));
    const products = definitions.get('products')!;
    assert.equal(products.keyColumns[0]!.type, 'character varying(20)');
    assert.equal(products.versionKind, 'integer');
    assert.deepEqual(
      products.payloadFields.map((field) => `${field.name}:${field.type}`),
      [
        'name:string',
        'product_type:string',
        'product_group:string',
        'color:string',
        'department:string',
        'index_name:string',
        'price:number',
      ],
    );
  });

  it('names every missing column, with a suggestion', async () => {
    const config = demoConfig() as Record<string, any>;
    Object.assign(config.collections.products, {
      text: '{{name}} {{colour}}',
      keywordFields: ['descripton'],
      payloadFields: ['price', 'size'],
      tenantColumn: 'tenant',
    });
    await assert.rejects(loadCollectionDefinitions(testDb.db, parseConfig(config)), (error) => {
      assert.ok(isVectorsyncError(error, ErrorCode.ConfigInvalid));
      assert.match(
        error.message,
        /collections\.products\.text: column "colour" does not exist in public\.products \(did you mean "color"\?\)/,
      );
      assert.match(
        error.message,
        /collections\.products\.keywordFields: column "descripton" does not exist.*did you mean "description"/,
      );
      assert.match(error.message, /collections\.products\.payloadFields: column "size" does not exist/);
      assert.match(
        error.message,
        /collections\.products\.tenantColumn: column "tenant" does not exist.*did you mean "tenant_id"/,
      );
      return true;
    });
  });

  it('rejects a missing table, a non-unique key and an unusable version column', async () => {
    const missing = demoConfig() as Record<string, any>;
    missing.collections.products.table = 'public.prodcts';
    await assert.rejects(
      loadCollectionDefinitions(testDb.db, parseConfig(missing)),
      /collections\.products\.table: table public\.prodcts does not exist/,
    );

    const badKey = demoConfig() as Record<string, any>;
    badKey.collections.products.primaryKey = 'name';
    await assert.rejects(
      loadCollectionDefinitions(testDb.db, parseConfig(badKey)),
      /primaryKey: column "name" is not the primary key or a unique column.*article_id/,
    );

    const badVersion = demoConfig() as Record<string, any>;
    Object.assign(badVersion.collections.products, { versionColumn: 'color', manageVersion: false });
    await assert.rejects(
      loadCollectionDefinitions(testDb.db, parseConfig(badVersion)),
      /versionColumn: column "color" has type character varying\(50\)/,
    );

    const managedTimestamp = demoConfig() as Record<string, any>;
    Object.assign(managedTimestamp.collections.products, {
      versionColumn: 'updated_at',
      manageVersion: true,
    });
    await assert.rejects(
      loadCollectionDefinitions(testDb.db, parseConfig(managedTimestamp)),
      /manageVersion: needs an integer version column/,
    );
  });
});
