/**
 * npm run bench:chunks [-- --documents=10000]
 *
 * Chunked collections, measured against the same work without chunking, in the same run:
 *  1. re-embedding after an edit: one paragraph of a 50-chunk article changed; the texts and
 *     characters sent to an OpenAI-compatible embedder (a local fake that counts them);
 *  2. search latency: `documents` articles of about 10 chunks each in pgvector, searched
 *     semantically and hybrid, chunked against the same articles unchunked;
 *  3. which BM25 over chunks: document BM25 against best-chunk BM25, nDCG@10 on the shared
 *     test collections (skipped, with the reason, when they are absent).
 */
import { parseConfig } from '../src/config/resolve-config.js';
import { silentLogger } from '../src/logger.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { SearchService } from '../src/search/search-service.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import { articleBody } from '../test/helpers/articles-fixture.js';
import { FakeEmbeddingServer } from '../test/helpers/fake-embedding-server.js';
import {
  benchDatabase,
  integerArgument,
  machineDescription,
  markdownTable,
  percentile,
  printTable,
  waitForDrain,
  writeReport,
} from './bench-environment.js';
import { chunkRelevance } from './chunk-relevance.js';

const DOCUMENTS = integerArgument('documents', 10_000);
const QUERIES = 200;
const CHUNKING = { splitter: 'markdown' as const, size: 200, overlap: 0 };

function collection(chunked: boolean) {
  return {
    table: 'articles',
    primaryKey: 'id',
    tenantColumn: 'tenant_id',
    versionColumn: 'version',
    manageVersion: true,
    text: '# {{title}}\n\n{{body}}',
    keywordFields: ['title', 'body'],
    payloadFields: ['title'],
    ...(chunked ? { chunking: CHUNKING } : {}),
    store: 'main',
    embedder: 'default',
  };
}

/** 1. What an edit of one paragraph sends to the embedder, chunked and not. */
async function reembedAfterEdit() {
  const rows: Array<Record<string, string | number>> = [];
  for (const chunked of [true, false]) {
    const bench = await benchDatabase(`chunks_edit_${chunked ? 'c' : 'w'}`);
    const server = new FakeEmbeddingServer({ dimensions: 64 });
    const baseUrl = await server.start();
    try {
      await bench.db.query(
        'CREATE TABLE articles (id int PRIMARY KEY, tenant_id text NOT NULL, title text NOT NULL, body text NOT NULL, version bigint NOT NULL DEFAULT 0)',
      );
      // 25 sections of two paragraphs: 50 chunks of one paragraph each at this size.
      const body = articleBody(7, 25);
      await bench.db.query(`INSERT INTO articles VALUES (1, 'acme', 'A long article', $1)`, [body]);
      const config = parseConfig({
        databaseUrl: bench.url,
        embedders: {
          default: {
            provider: 'openai',
            model: 'fake',
            dimensions: 64,
            baseUrl,
            apiKeyEnv: 'NO_KEY',
            maxInputChars: 100_000,
          },
        },
        stores: { main: { provider: 'pgvector' } },
        sync: { pollIntervalMs: 20 },
        collections: {
          articles: { ...collection(chunked), ...(chunked ? { chunking: { ...CHUNKING, size: 110 } } : {}) },
        },
      });
      const runtime = await VectorsyncRuntime.open({ config, db: bench.db, logger: silentLogger });
      await setupCollections(runtime);
      const workers = new SyncWorkers(runtime, silentLogger);
      await workers.start();
      await waitForDrain(bench.db);
      const target = runtime.activeTarget('articles');
      const chunks = chunked
        ? ((await target.store.readChunks!(target.spec, ['1'])).get('1')?.length ?? 0)
        : 1;
      const before = server.requests.flatMap((request) => request.input);
      await bench.db.query(
        `UPDATE articles SET body = replace(body, 'Paragraph one of section 13 ', 'Paragraph uno of section 13 ') WHERE id = 1`,
      );
      await waitForDrain(bench.db);
      const sent = server.requests.flatMap((request) => request.input).slice(before.length);
      rows.push({
        collection: chunked ? 'chunked (markdown, 110 characters)' : 'one vector per document',
        'vectors in the document': chunks,
        'texts embedded at setup': before.length,
        'texts embedded after the edit': sent.length,
        'characters sent after the edit': sent.reduce((sum, text) => sum + text.length, 0),
      });
      await workers.stop();
      await runtime.close();
    } finally {
      await server.stop();
      await bench.close();
    }
  }
  return rows;
}

/** 2. Search latency over `DOCUMENTS` articles, chunked against unchunked, same documents. */
async function searchLatency() {
  const rows: Array<Record<string, string | number>> = [];
  for (const chunked of [true, false]) {
    const bench = await benchDatabase(`chunks_search_${chunked ? 'c' : 'w'}`);
    try {
      await bench.db.query(
        'CREATE TABLE articles (id int PRIMARY KEY, tenant_id text NOT NULL, title text NOT NULL, body text NOT NULL, version bigint NOT NULL DEFAULT 0)',
      );
      for (let start = 1; start <= DOCUMENTS; start += 5000) {
        const ids = Array.from({ length: Math.min(5000, DOCUMENTS - start + 1) }, (_, i) => start + i);
        await bench.db.query(
          'INSERT INTO articles (id, tenant_id, title, body) SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[])',
          [
            ids,
            ids.map(() => 'acme'),
            ids.map((id) => `Article ${id}`),
            ids.map((id) => articleBody(id, 10)),
          ],
        );
      }
      const config = parseConfig({
        databaseUrl: bench.url,
        embedders: { default: { provider: 'hash', dimensions: 64 } },
        stores: { main: { provider: 'pgvector' } },
        sync: { concurrency: 2, batchSize: 500, pollIntervalMs: 50 },
        collections: { articles: collection(chunked) },
      });
      const runtime = await VectorsyncRuntime.open({ config, db: bench.db, logger: silentLogger });
      const loadStarted = performance.now();
      await setupCollections(runtime);
      const workers = new SyncWorkers(runtime, silentLogger);
      await workers.start();
      await waitForDrain(bench.db);
      const loadSeconds = (performance.now() - loadStarted) / 1000;
      await workers.stop();
      const location = runtime.activeTarget('articles').record.location;
      const vectors = chunked
        ? Number(
            (
              await bench.db.query<{ n: string }>(
                `SELECT count(*)::text AS n FROM vectorsync."${location}_chunks"`,
              )
            ).rows[0]!.n,
          )
        : DOCUMENTS;
      const search = new SearchService(runtime);
      const topics = ['glaciers', 'volcanoes', 'rivers', 'deserts', 'forests', 'reefs', 'tundra', 'caves'];
      for (const mode of ['semantic', 'hybrid'] as const) {
        const times: number[] = [];
        for (let i = 0; i < QUERIES; i++) {
          const query = `field notes on ${topics[i % topics.length]} by survey team ${i % 5}`;
          const started = performance.now();
          await search.search({
            collection: 'articles',
            tenant: 'acme',
            query: `${query} ${i}`,
            mode,
            k: 10,
          });
          times.push(performance.now() - started);
        }
        rows.push({
          index: chunked ? 'chunked' : 'one vector per document',
          documents: DOCUMENTS,
          vectors,
          'load s': loadSeconds.toFixed(1),
          mode,
          'p50 ms': percentile(times, 50).toFixed(1),
          'p95 ms': percentile(times, 95).toFixed(1),
        });
      }
      await runtime.close();
    } finally {
      await bench.close();
    }
  }
  return rows;
}

async function main(): Promise<void> {
  const edit = await reembedAfterEdit();
  printTable(edit);
  const latency = await searchLatency();
  printTable(latency);
  const relevance = await chunkRelevance(
    new URL('../../shared/datasets', import.meta.url).pathname,
    ['scifact', 'cisi', 'cranfield'],
    400,
  );
  if (relevance.rows.length > 0) printTable(relevance.rows);
  for (const reason of relevance.skipped) console.log(`skipped: ${reason}`);
  const markdown = `# Chunked collections

\`npm run bench:chunks -- --documents=${DOCUMENTS}\` on ${machineDescription()}.

## Re-embedding after an edit

One word of one paragraph changed in an article of 25 sections (50 paragraphs), synced through the
outbox into pgvector, embedded by an OpenAI-compatible server (a local fake that counts its inputs).
Chunked, only the chunk whose content hash changed is sent; unchunked, the whole text is.

${markdownTable(edit)}

## Search latency

${DOCUMENTS} articles of 10 sections (about 10 chunks each at 200 characters), hash embedder (64
dimensions), pgvector with HNSW, one tenant; ${QUERIES} queries per mode, k = 10, one client. The
chunked index searches its chunks and groups them into documents (best chunk); the baseline is
the same articles with one vector each, loaded the same way in the same run.

${markdownTable(latency)}

## BM25 over chunks: document BM25 or best-chunk BM25

Both over the same analyzer (k1 = 1.2, b = 0.75); chunks of 400 characters (recursive splitter);
nDCG@10 on each collection's dev queries. A chunked collection keeps keyword search at the
document level (docs/search.md#chunked-collections): it is better on two collections of three,
by the most on the longest documents (SciFact's abstracts).

${relevance.rows.length > 0 ? markdownTable(relevance.rows) : 'Skipped: the shared test collections are absent.'}
${relevance.skipped.map((reason) => `\nSkipped: ${reason}`).join('')}
`;
  await writeReport('chunks', markdown, { documents: DOCUMENTS, edit, latency, relevance: relevance.rows });
}

await main();
