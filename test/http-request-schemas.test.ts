import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { silentLogger } from '../src/logger.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { createApiKey } from '../src/server/api-keys.js';
import { createServer } from '../src/server/create-server.js';
import { createProductsTable, openProductsRuntime, productsConfig } from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';

/** Issue 13 item 7: what the route schemas refuse, GET and POST alike, before any handler runs. */
describe('HTTP request schemas', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let app: FastifyInstance;
  let key: string;
  let admin: string;

  before(async () => {
    testDb = await createTestDatabase('http_request_schemas');
    await createProductsTable(testDb.db);
    runtime = await openProductsRuntime(testDb, { config: productsConfig(testDb) });
    app = createServer({ runtime, logger: silentLogger });
    key = (await createApiKey(testDb.db, { name: 'acme', tenant: 'acme' })).key;
    admin = (await createApiKey(testDb.db, { name: 'ops', admin: true })).key;
  });

  after(async () => {
    await app.close();
    await runtime.close();
    await testDb.drop();
  });

  const post = (body: string, bearer = key) =>
    app.inject({
      method: 'POST',
      url: '/v1/collections/products/search',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      payload: body,
    });
  const get = (query: string, bearer = key) =>
    app.inject({
      url: `/v1/collections/products/search?${query}`,
      headers: { authorization: `Bearer ${bearer}` },
    });

  function refused(response: LightMyRequestResponse, code: string, field: string) {
    assert.equal(response.statusCode, 400, response.body);
    const { error } = response.json() as { error: { code: string; message: string; details: unknown } };
    assert.equal(error.code, code, response.body);
    assert.match(error.message, new RegExp(`"${field.replace('.', '\\.')}"`), response.body);
    return error;
  }

  it('refuses values of the wrong type in a POST body, naming the field', async () => {
    refused(await post('{"q":"shirt","mode":{"toString":1}}'), 'INVALID_REQUEST', 'mode');
    const query = refused(await post('{"q":{"x":1}}'), 'INVALID_REQUEST', 'q');
    assert.match(query.message, /must be a string \(got an object\)/);
    refused(await post('{"q":"shirt","k":[5]}'), 'INVALID_REQUEST', 'k');
    refused(await post('{"q":"shirt","k":2.5}'), 'INVALID_REQUEST', 'k');
    refused(await post('{"q":"shirt","explain":1}'), 'INVALID_REQUEST', 'explain');
    refused(await post('{"q":"shirt","mode":"fuzzy"}'), 'INVALID_REQUEST', 'mode');
    refused(await post('{"q":"shirt","w_semantic":"1"}'), 'INVALID_REQUEST', 'w_semantic');
  });

  it('refuses unknown fields and parameters, by POST and by GET alike', async () => {
    const body = refused(await post('{"q":"shirt","limit":5}'), 'UNKNOWN_FIELD', 'limit');
    assert.deepEqual(body.details, { fields: ['limit'] });
    const query = refused(await get('q=shirt&limit=5'), 'UNKNOWN_FIELD', 'limit');
    assert.deepEqual(query.details, { parameters: ['limit'] });
    // A parameter given twice arrives as an array: not a value the route knows.
    refused(await get('q=shirt&k=1&k=2'), 'INVALID_REQUEST', 'k');
    refused(await get('q=shirt&mode=fuzzy'), 'INVALID_REQUEST', 'mode');
    refused(await get('q=shirt&explain=maybe'), 'INVALID_REQUEST', 'explain');
  });

  it('refuses a body that is not the JSON object a route expects', async () => {
    const array = await post('[1,2]');
    assert.equal(array.statusCode, 400, array.body);
    assert.equal(array.json().error.code, 'MALFORMED_BODY');
    const document = await app.inject({
      method: 'POST',
      url: '/v1/collections/products/documents',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      payload: '"a string"',
    });
    assert.equal(document.statusCode, 400, document.body);
    assert.equal(document.json().error.code, 'MALFORMED_BODY');
  });

  it('checks operational query strings too', async () => {
    const events = await app.inject({
      url: '/v1/sync/events?status=lost',
      headers: { authorization: `Bearer ${admin}` },
    });
    refused(events, 'INVALID_REQUEST', 'status');
    const unknown = await app.inject({
      url: '/v1/sync/events?colection=products',
      headers: { authorization: `Bearer ${admin}` },
    });
    refused(unknown, 'UNKNOWN_FIELD', 'colection');
  });

  it('accepts what the schema allows', async () => {
    const ok = await post(
      '{"q":"shirt","k":3,"explain":true,"mode":"keyword","w_semantic":0.5,"w_keyword":1}',
    );
    assert.equal(ok.statusCode, 200, ok.body);
    const viaGet = await get('q=shirt&k=3&explain=true&mode=keyword');
    assert.equal(viaGet.statusCode, 200, viaGet.body);
  });
});
