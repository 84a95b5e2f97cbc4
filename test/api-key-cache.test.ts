import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SqlExecutor } from '../src/db/database.js';
import { silentLogger } from '../src/logger.js';
import { ApiKeyAuthenticator } from '../src/server/api-key-authenticator.js';
import { type ApiKeyLookup, createApiKey, revokeApiKey } from '../src/server/api-keys.js';
import { createServer } from '../src/server/create-server.js';
import { createProductsTable, openProductsRuntime } from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';

/** The test database, counting every statement sent through it. */
function countingDb(db: SqlExecutor) {
  const statements: string[] = [];
  const counted: SqlExecutor = {
    query: (text, values) => {
      statements.push(text);
      return db.query(text, values);
    },
  };
  return {
    db: counted,
    all: () => statements.length,
    lookups: () => statements.filter((text) => text.includes('FROM vectorsync.api_keys WHERE prefix')).length,
  };
}

const cacheMs = 5000;

describe('API key lookups are cached for server.apiKeyCacheMs', () => {
  let testDb: TestDatabase;
  let good: { key: string; prefix: string };
  // An injected clock (milliseconds): entries expire when the test moves it, not by waiting.
  let now = 1_000_000;
  const clock = () => now;

  before(async () => {
    testDb = await createTestDatabase('api_key_cache');
    const created = await createApiKey(testDb.db, { name: 'storefront', tenant: 'acme' });
    good = { key: created.key, prefix: created.record.prefix };
  });

  after(async () => {
    await testDb.drop();
  });

  const refusal = (lookup: ApiKeyLookup) => (lookup.ok ? 'accepted' : lookup.error.message);
  /** The same prefix as the good key, another secret. */
  const wrongSecret = () => `vs_${good.prefix}_${'A'.repeat(32)}`;

  it('answers a repeated bad key from the cache: no query until the entry expires', async () => {
    const counting = countingDb(testDb.db);
    const authenticator = new ApiKeyAuthenticator(counting.db, { cacheMs, now: clock });
    assert.equal(refusal(await authenticator.authenticate(wrongSecret())), 'unknown API key');
    assert.equal(counting.all(), 1);
    assert.equal(refusal(await authenticator.authenticate(wrongSecret())), 'unknown API key');
    assert.equal(counting.all(), 1, 'the second bad-key request runs no query');
    now += cacheMs - 1;
    await authenticator.authenticate(wrongSecret());
    assert.equal(counting.all(), 1, 'still cached just before the TTL');
    now += 2;
    assert.equal(refusal(await authenticator.authenticate(wrongSecret())), 'unknown API key');
    assert.equal(counting.all(), 2, 'after the TTL the key is checked again');
  });

  it('keys entries by the whole key: a wrong secret for a cached prefix is looked up and refused', async () => {
    const counting = countingDb(testDb.db);
    const authenticator = new ApiKeyAuthenticator(counting.db, { cacheMs, now: clock });
    assert.equal(refusal(await authenticator.authenticate(good.key)), 'accepted');
    assert.equal(refusal(await authenticator.authenticate(good.key)), 'accepted');
    assert.equal(counting.lookups(), 1, 'the second request with the good key runs no lookup');
    assert.equal(refusal(await authenticator.authenticate(wrongSecret())), 'unknown API key');
    assert.equal(counting.lookups(), 2);
    // Missing and malformed keys never reach the database, cached or not.
    assert.match(refusal(await authenticator.authenticate(undefined)), /missing API key/);
    assert.equal(refusal(await authenticator.authenticate('vs_short')), 'malformed API key');
    assert.equal(counting.lookups(), 2);
  });

  it('refuses a key revoked in this process at once, and one revoked elsewhere after the TTL', async () => {
    const counting = countingDb(testDb.db);
    const authenticator = new ApiKeyAuthenticator(counting.db, { cacheMs, now: clock });
    const elsewhere = await createApiKey(testDb.db, { name: 'revoked-elsewhere', tenant: 'acme' });
    const here = await createApiKey(testDb.db, { name: 'revoked-here', tenant: 'acme' });
    assert.equal(refusal(await authenticator.authenticate(elsewhere.key)), 'accepted');
    assert.equal(refusal(await authenticator.authenticate(here.key)), 'accepted');

    // Another process (`vectorsync keys revoke`) writes the revocation; this one does not hear of it.
    await revokeApiKey(testDb.db, elsewhere.record.prefix);
    assert.equal(refusal(await authenticator.authenticate(elsewhere.key)), 'accepted', 'within the TTL');
    now += cacheMs + 1;
    assert.equal(refusal(await authenticator.authenticate(elsewhere.key)), 'API key has been revoked');

    await revokeApiKey(testDb.db, here.record.prefix);
    authenticator.forget(here.record.prefix);
    assert.equal(refusal(await authenticator.authenticate(here.key)), 'API key has been revoked');
  });

  it('looks every request up when the cache is off (apiKeyCacheMs 0)', async () => {
    const counting = countingDb(testDb.db);
    const authenticator = new ApiKeyAuthenticator(counting.db, { cacheMs: 0, now: clock });
    await authenticator.authenticate(wrongSecret());
    await authenticator.authenticate(wrongSecret());
    assert.equal(counting.lookups(), 2);
  });
});

describe('the service answers repeated bad keys without a query', () => {
  let testDb: TestDatabase;

  before(async () => {
    testDb = await createTestDatabase('api_key_cache_http');
    await createProductsTable(testDb.db);
  });

  after(async () => {
    await testDb.drop();
  });

  it('runs one key lookup for two requests with the same bad key, and 401s both', async () => {
    const runtime = await openProductsRuntime(testDb);
    const counting = countingDb(runtime.db);
    const app = createServer({
      runtime,
      logger: silentLogger,
      apiKeys: new ApiKeyAuthenticator(counting.db, { cacheMs }),
    });
    try {
      const bad = `vs_0000000000_${'B'.repeat(32)}`;
      for (const attempt of [1, 2]) {
        const response = await app.inject({
          method: 'GET',
          url: '/v1/collections',
          headers: { authorization: `Bearer ${bad}` },
        });
        assert.equal(response.statusCode, 401, `attempt ${attempt}`);
        assert.equal(response.json().error.code, 'UNAUTHENTICATED');
      }
      assert.equal(counting.all(), 1);
    } finally {
      await app.close();
      await runtime.close();
    }
  });
});
