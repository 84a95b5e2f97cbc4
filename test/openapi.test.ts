import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import Fastify, { type FastifyInstance } from 'fastify';
import openapiTS, { astToString } from 'openapi-typescript';
import { demoConfig } from '../src/demo/demo-schema.js';
import { vectorsyncPlugin } from '../src/fastify.js';
import { openVectorsync } from '../src/index.js';
import { silentLogger } from '../src/logger.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { createServer } from '../src/server/create-server.js';
import { ServiceMetrics } from '../src/server/metrics.js';
import {
  deploymentIndependent,
  type OpenApiPaths,
  renderRouteTable,
  withRouteTable,
} from './helpers/openapi-docs.js';
import {
  createProductsTable,
  fastSync,
  openProductsRuntime,
  productsConfig,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';

interface OpenApiDocument {
  openapi: string;
  paths: OpenApiPaths & Record<string, Record<string, Record<string, unknown>>>;
  components: { schemas: Record<string, Record<string, unknown>> };
}

const generatedHeader =
  '// Generated from /openapi.json by `npm run docs:http-api` (openapi-typescript); do not edit.\n// test/openapi.test.ts fails when it is out of date.\n';

/** Fastify's `/a/:b` as OpenAPI's `/a/{b}`. */
const openApiPath = (url: string) => url.replace(/:([A-Za-z_]+)/g, '{$1}');

describe('OpenAPI document', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let app: FastifyInstance;
  const routes: Array<{ method: string; url: string }> = [];

  before(async () => {
    testDb = await createTestDatabase('openapi');
    await createProductsTable(testDb.db);
    // A column the fixture does not have: the document schema must come from the live table.
    await testDb.db.query(
      `ALTER TABLE products ADD COLUMN tags text[], ADD COLUMN stock int4 NOT NULL DEFAULT 0`,
    );
    runtime = await openProductsRuntime(testDb, {
      config: productsConfig(testDb, { server: { aliasCollection: 'products' } as never }),
    });
    // Metrics and the alias register optional routes: every route there is must be documented.
    app = createServer({ runtime, logger: silentLogger, metrics: new ServiceMetrics(runtime) });
    app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) routes.push({ method, url: route.url });
    });
    await app.ready();
  });

  after(async () => {
    await app.close();
    await runtime.close();
    await testDb.drop();
  });

  const spec = async () => {
    const response = await app.inject({ url: '/openapi.json' });
    assert.equal(response.statusCode, 200, response.body);
    return response.json() as OpenApiDocument;
  };

  it('is a valid OpenAPI 3.1 document', async () => {
    const document = await spec();
    assert.equal(document.openapi, '3.1.0');
    const result = await new Validator().validate(document as never);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
  });

  it('covers every registered route, with who may call it and the error envelope', async () => {
    const document = await spec();
    const api = routes.filter((route) => route.method !== 'HEAD' && !route.url.startsWith('/docs'));
    assert.ok(api.length >= 20, `only ${api.length} routes seen`);
    for (const route of api) {
      const operation = document.paths[openApiPath(route.url)]?.[route.method.toLowerCase()];
      assert.ok(operation, `${route.method} ${route.url} is not in /openapi.json`);
      assert.ok(
        ['none', 'tenant', 'admin'].includes(operation['x-vectorsync-key'] as string),
        `${route.method} ${route.url}: x-vectorsync-key`,
      );
      const responses = operation.responses as Record<
        string,
        { content: Record<string, { schema: unknown }> }
      >;
      for (const status of ['400', '500']) {
        assert.deepEqual(
          responses[status]?.content['application/json']?.schema,
          { $ref: '#/components/schemas/Error' },
          `${route.method} ${route.url}: ${status} is the error envelope`,
        );
      }
    }
    // And nothing is documented that does not exist.
    const registered = new Set(api.map((route) => `${route.method.toLowerCase()} ${openApiPath(route.url)}`));
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const method of Object.keys(operations)) {
        assert.ok(registered.has(`${method} ${path}`), `${method} ${path} is documented but not registered`);
      }
    }
  });

  it('enforces the key each operation documents', async () => {
    const document = await spec();
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const url = path.replace('{collection}', 'products').replace('{id}', 'x');
        const response = await app.inject({ method: method.toUpperCase() as 'GET', url });
        const key = operation['x-vectorsync-key'];
        if (key === 'none') assert.notEqual(response.statusCode, 401, `${method} ${path} needs no key`);
        else assert.equal(response.statusCode, 401, `${method} ${path} needs a key: ${response.body}`);
      }
    }
  });

  it("describes each collection's documents from its live table", async () => {
    const document = await spec();
    const schema = document.components.schemas.productsDocument as {
      properties: Record<string, Record<string, unknown>>;
      description: string;
    };
    assert.ok(schema, 'productsDocument is in the components');
    const columns = (
      await testDb.db.query<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns WHERE table_name = 'products'`,
      )
    ).rows.map((row) => row.column_name);
    assert.deepEqual(Object.keys(schema.properties).sort(), columns.sort());
    assert.deepEqual(schema.properties.tags!.type, ['array', 'null']);
    assert.deepEqual(schema.properties.tags!.items, { type: 'string' });
    assert.equal(schema.properties.stock!.type, 'integer');
    assert.equal(schema.properties.stock!.maximum, 2147483647);
    assert.match(schema.description, /Required on create: article_id, name\./);
    const create = document.paths['/v1/collections/{collection}/documents']!.post as {
      requestBody: { content: Record<string, { schema: unknown }> };
      parameters: Array<{ name: string; schema: { enum?: string[] } }>;
    };
    assert.deepEqual(create.requestBody.content['application/json']!.schema, {
      anyOf: [{ $ref: '#/components/schemas/productsDocument' }],
    });
    assert.deepEqual(create.parameters.find((parameter) => parameter.name === 'collection')!.schema.enum, [
      'products',
    ]);
  });

  it('serves an interactive reference at /docs, without a key', async () => {
    const page = await app.inject({ url: '/docs/' });
    assert.equal(page.statusCode, 200);
    assert.match(page.headers['content-type'] as string, /text\/html/);
    assert.match(page.body, /swagger-ui/i);
    const initializer = await app.inject({ url: '/docs/static/swagger-initializer.js' });
    assert.equal(initializer.statusCode, 200);
    const json = await app.inject({ url: '/docs/json' });
    assert.equal(json.statusCode, 200);
    assert.deepEqual(Object.keys(json.json().paths).sort(), Object.keys((await spec()).paths).sort());
  });

  it("generates the typed client's types (`npm run docs:http-api` regenerates them)", async () => {
    const typesPath = new URL('../src/generated/http-api.ts', import.meta.url);
    const generated = astToString(await openapiTS(deploymentIndependent((await spec()) as never) as never));
    const expected = `${generatedHeader}${generated}`;
    if (process.env.UPDATE_DOCS === '1') await writeFile(typesPath, expected);
    else
      assert.equal(
        await readFile(typesPath, 'utf8'),
        expected,
        'src/generated/http-api.ts is out of date: run `npm run docs:http-api`',
      );
  });

  it('is the route reference of docs/http-api.md (`npm run docs:http-api` regenerates it)', async () => {
    const docsPath = new URL('../docs/http-api.md', import.meta.url);
    const markdown = await readFile(docsPath, 'utf8');
    const expected = withRouteTable(markdown, renderRouteTable((await spec()).paths));
    if (process.env.UPDATE_DOCS === '1') await writeFile(docsPath, expected);
    else assert.equal(markdown, expected, 'docs/http-api.md is out of date: run `npm run docs:http-api`');
  });
});

describe('OpenAPI document of the Fastify plugin', () => {
  let testDb: TestDatabase;

  before(async () => {
    testDb = await createTestDatabase('openapi_plugin');
    await createProductsTable(testDb.db);
  });

  after(async () => {
    await testDb.drop();
  });

  it("documents the plugin's own routes under its prefix, not the application's", async () => {
    const vectorsync = await openVectorsync(
      { ...demoConfig({ dimensions: 32 }), databaseUrl: testDb.url, sync: fastSync },
      { env: {} },
    );
    const app = Fastify();
    app.get('/mine', async () => ({ mine: true }));
    await app.register(vectorsyncPlugin, { vectorsync, prefix: '/vs' });
    try {
      const response = await app.inject({ url: '/vs/openapi.json' });
      assert.equal(response.statusCode, 200, response.body);
      const paths = Object.keys((response.json() as OpenApiDocument).paths);
      assert.ok(paths.includes('/vs/v1/collections/{collection}/search'), paths.join(', '));
      assert.ok(
        paths.every((path) => path.startsWith('/vs/')),
        paths.join(', '),
      );
      assert.equal((await app.inject({ url: '/vs/docs/' })).statusCode, 200);
      assert.equal((await app.inject({ url: '/mine' })).statusCode, 200);
    } finally {
      await app.close();
      await vectorsync.close();
    }
  });
});
