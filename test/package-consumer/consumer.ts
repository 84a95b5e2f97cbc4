// A user's program, as test/package.install.test.ts runs it: copied into a fresh project that
// installed the packed tarball, type-checked by tsc under strict settings (the package's types
// must resolve) and run by plain node. It prints one JSON object for the test to check.
// Not part of the repository's own type-check: `vectorsync` resolves only once installed.
import Fastify from 'fastify';
import pg from 'pg';
import {
  defineConfig,
  ErrorCode,
  enqueueChange,
  isVectorsyncError,
  openVectorsync,
  resolveConfig,
  type SearchResponse,
  type Vectorsync,
} from 'vectorsync';
import { createVectorsyncClient, VectorsyncHttpError } from 'vectorsync/client';
import { vectorsyncPlugin } from 'vectorsync/fastify';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) throw new Error('DATABASE_URL is not set');

const config = defineConfig({
  databaseUrl,
  embedders: { local: { provider: 'hash', dimensions: 64 } },
  stores: { main: { provider: 'pgvector' } },
  collections: {
    notes: {
      table: 'public.notes',
      primaryKey: 'id',
      tenantColumn: 'tenant',
      versionColumn: 'version',
      manageVersion: true,
      text: '{{title}}. {{body}}',
      keywordFields: ['title', 'body'],
      payloadFields: ['title'],
      store: 'main',
      embedder: 'local',
    },
  },
});

const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
await pool.query(`CREATE TABLE notes (
  id text PRIMARY KEY, tenant text NOT NULL, title text NOT NULL, body text NOT NULL,
  version bigint NOT NULL DEFAULT 0)`);
await pool.query(`INSERT INTO notes (id, tenant, title, body) VALUES
  ('n1', 'acme', 'Lighthouse keeper', 'A lighthouse on a windswept granite island'),
  ('n2', 'acme', 'Sourdough', 'Rye sourdough with a long cold proof'),
  ('n3', 'other', 'Lighthouse lenses', 'Fresnel lenses of a lighthouse')`);

const resolved = await resolveConfig({ config, env: {} });

// The environment must not decide where this connects: the config alone does.
const vectorsync: Vectorsync = await openVectorsync(config, { migrate: true, env: {} });
const setup = await vectorsync.setup();

// A write after setup, captured by the triggers, and one enqueued explicitly in the writer's transaction.
await pool.query(
  `INSERT INTO notes (id, tenant, title, body) VALUES ('n4', 'acme', 'Tide tables', 'Spring tides and neap tides')`,
);
const client = await pool.connect();
let enqueued: string;
try {
  await client.query('BEGIN');
  await client.query(`UPDATE notes SET body = body || ' near the harbour' WHERE id = 'n1'`);
  enqueued = await enqueueChange(client, { collection: 'notes', tenant: 'acme', id: 'n1' });
  await client.query('COMMIT');
} finally {
  client.release();
}

const workers = await vectorsync.startWorkers();
const deadline = Date.now() + 60_000;
let found: SearchResponse | undefined;
for (;;) {
  const status = await vectorsync.status();
  const notes = status.collections.find((collection) => collection.collection === 'notes');
  const page = await vectorsync.search({ collection: 'notes', tenant: 'acme', query: 'lighthouse harbour' });
  if (notes && notes.pending + notes.processing === 0 && page.hits[0]?.id === 'n1') {
    found = page;
    break;
  }
  if (Date.now() > deadline) throw new Error(`not indexed in time: ${JSON.stringify(status.collections)}`);
  await new Promise((resolve) => setTimeout(resolve, 50));
}
const keyword = await vectorsync.search({
  collection: 'notes',
  tenant: 'acme',
  query: 'neap tides',
  mode: 'keyword',
  k: 1,
});
const otherTenant = await vectorsync.search({ collection: 'notes', tenant: 'other', query: 'lighthouse' });
const reconciled = await vectorsync.reconcile({ collection: 'notes' });
const indexStatus = await vectorsync.indexes.status('notes');

let unknownCollection: string | undefined;
try {
  await vectorsync.search({ collection: 'nope', tenant: 'acme', query: 'x' });
} catch (error) {
  if (isVectorsyncError(error, ErrorCode.UnknownCollection)) unknownCollection = error.code;
}

// The HTTP routes inside the application's own Fastify, under a prefix, next to its own routes.
const app = Fastify();
app.get('/mine', async () => ({ mine: true }));
await app.register(vectorsyncPlugin, { vectorsync, prefix: '/search-api' });
const { key } = await vectorsync.apiKeys.create({ name: 'consumer', tenant: 'acme' });
const healthz = await app.inject({ url: '/search-api/healthz' });
const unauthenticated = await app.inject({ url: '/search-api/v1/collections/notes/search?q=tides' });
const viaHttp = await app.inject({
  url: '/search-api/v1/collections/notes/search?q=tides&k=1',
  headers: { authorization: `Bearer ${key}` },
});
const mine = await app.inject({ url: '/mine' });
await app.close();

// The service in this process, and vectorsync/client talking to it over HTTP.
const service = await vectorsync.serve({ host: '127.0.0.1', port: 0, workers: false });
const adminKey = (await vectorsync.apiKeys.create({ name: 'consumer-admin', admin: true })).key;
const tenantClient = createVectorsyncClient({ url: service.url, apiKey: key });
const viaClient = await tenantClient.search({ collection: 'notes', query: 'tides', k: 1 });
const adminClient = createVectorsyncClient({ url: service.url, apiKey: adminKey });
const clientStatus = await adminClient.sync.status();
let clientError: [string, number] | undefined;
try {
  await tenantClient.documents.get('notes', 'n3'); // another tenant's: exactly like a missing one
} catch (error) {
  if (error instanceof VectorsyncHttpError) clientError = [error.code, error.status];
}
await service.stop();

await workers.stop();
await vectorsync.close();
await vectorsync.close();
await pool.end();

process.stdout.write(
  `${JSON.stringify({
    resolved: Object.keys(resolved.collections),
    collections: vectorsync.collections,
    setup: setup.map((result) => ({ collection: result.collection, backfilled: result.backfilled })),
    enqueued: typeof enqueued === 'string' && enqueued.length > 0,
    hits: found.hits.map((hit) => hit.id),
    keyword: keyword.hits.map((hit) => hit.id),
    otherTenant: otherTenant.hits.map((hit) => hit.id),
    inSync: reconciled.inSync,
    indexOpsSupported: indexStatus.supported,
    unknownCollection,
    http: {
      healthz: healthz.statusCode,
      unauthenticated: [unauthenticated.statusCode, unauthenticated.json().error.code],
      search: [viaHttp.statusCode, viaHttp.json().hits.map((hit: { id: string }) => hit.id)],
      mine: mine.statusCode,
    },
    client: {
      search: viaClient.hits.map((hit) => hit.id),
      pending: clientStatus.collections.map((collection) => collection.pending),
      error: clientError,
    },
  })}\n`,
);
