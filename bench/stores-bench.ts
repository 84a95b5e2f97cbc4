/**
 * npm run bench:stores — the same corpus and queries on every available store: ingest rate,
 * ANN index build, search latency p50/p95 per mode, and recall@10 of dense search against exact
 * (brute-force cosine over the same vectors, tie-aware).
 *
 *   npm run bench:stores                   100,000 documents (pgvector, LanceDB; Qdrant with QDRANT_URL)
 *   npm run bench:stores -- --docs=10000   a quick run
 *   npm run bench:stores -- --embedder=hash  hash embedder (no word vectors)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/resolve-config.js';
import { createIndexRecord } from '../src/index-versions/index-catalog.js';
import { buildDocument } from '../src/pipeline/document-builder.js';
import type { EmbeddedDocument } from '../src/pipeline/index-document.js';
import { readSourceRows } from '../src/pipeline/source-reader.js';
import { type IndexTarget, indexSpecFor, VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { type SearchMode, SearchService } from '../src/search/search-service.js';
import { indexParamsFor } from '../src/stores/index-params.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import {
  benchDatabase,
  machineDescription,
  markdownTable,
  percentile,
  printTable,
  writeReport,
} from './bench-environment.js';
import { generateRealisticCorpus, realisticQueries } from './realistic-corpus.js';

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const DOCS = Number(arg('docs') ?? 100_000);
const QUERIES = Number(arg('queries') ?? 200);
const EMBEDDER = arg('embedder') === 'hash' ? 'hash' : 'wink';
const BATCH = 500;
const MODES: SearchMode[] = ['semantic', 'keyword', 'hybrid'];

async function main() {
  console.log(
    `vectorsync stores benchmark — ${DOCS} documents, ${QUERIES} queries, ${EMBEDDER} embedder — ${machineDescription()}\n`,
  );
  const env = await benchDatabase('stores');
  const lanceDir = await mkdtemp(join(tmpdir(), 'vectorsync-bench-lancedb-'));
  const stores: Record<string, unknown> = {
    pgvector: { provider: 'pgvector' },
    lancedb: {
      provider: 'lancedb',
      dataDir: lanceDir,
      annIndexMinRows: Math.min(50_000, Math.max(1000, DOCS / 2)),
    },
    ...(process.env.QDRANT_URL ? { qdrant: { provider: 'qdrant', url: process.env.QDRANT_URL } } : {}),
  };
  if (!process.env.QDRANT_URL) console.log('qdrant: skipped (QDRANT_URL is not set)');
  let runtime: VectorsyncRuntime | undefined;
  try {
    const db = env.db;
    await db.query(`CREATE TABLE bench_docs (
      id text PRIMARY KEY, tenant text NOT NULL, name text, description text, product_type text, color text,
      department text, price numeric(10,2), version bigint NOT NULL DEFAULT 0)`);
    const config = parseConfig({
      databaseUrl: env.url,
      embedders: { e: EMBEDDER === 'wink' ? { provider: 'wink' } : { provider: 'hash', dimensions: 128 } },
      stores,
      collections: {
        docs: {
          table: 'bench_docs',
          primaryKey: 'id',
          tenantColumn: 'tenant',
          versionColumn: 'version',
          manageVersion: true,
          text: '{{name}}. {{product_type}} in {{color}} from {{department}}. {{description}}',
          keywordFields: ['name', 'product_type', 'color', 'description'],
          payloadFields: ['product_type', 'color', 'price'],
          store: 'pgvector',
          embedder: 'e',
        },
      },
    });
    runtime = await VectorsyncRuntime.open({ config, db });
    await runtime.warmUp();
    await setupCollections(runtime);
    // Source rows, then their documents embedded once: every store is timed on writing the same vectors.
    const corpus = generateRealisticCorpus(DOCS);
    for (let start = 0; start < DOCS; start += 10_000) {
      const chunk = Array.from({ length: Math.min(10_000, DOCS - start) }, () => corpus.next().value!);
      await db.query(
        `INSERT INTO bench_docs (id, tenant, name, description, product_type, color, department, price)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::numeric[])`,
        [
          chunk.map((d) => d.id),
          chunk.map(() => 'bench'),
          chunk.map((d) => d.name),
          chunk.map((d) => d.description),
          chunk.map((d) => d.product_type),
          chunk.map((d) => d.color),
          chunk.map((d) => d.department),
          chunk.map((d) => d.price),
        ],
      );
    }
    await db.query('TRUNCATE vectorsync.outbox'); // no workers run here: the stores are written directly
    const collection = runtime.collection('docs');
    const documents: EmbeddedDocument[] = [];
    const ids = (await db.query<{ id: string }>('SELECT id FROM bench_docs ORDER BY id')).rows.map(
      (row) => row.id,
    );
    const embedStarted = performance.now();
    for (let start = 0; start < ids.length; start += BATCH) {
      const rows = await readSourceRows(db, collection.definition, ids.slice(start, start + BATCH));
      const built = [...rows.values()].map((row) =>
        buildDocument(collection.definition, row, collection.embedder, collection.analyzer),
      );
      const vectors = await collection.embedder.embed(built.map((document) => document.text));
      for (const [index, document] of built.entries())
        documents.push({ ...(document as Omit<typeof document, 'chunks'>), vector: vectors[index]! });
    }
    const embedSeconds = (performance.now() - embedStarted) / 1000;
    console.log(`built and embedded ${documents.length} documents in ${embedSeconds.toFixed(1)} s`);

    const queries = realisticQueries(QUERIES);
    const queryVectors = await collection.embedder.embed(queries);
    const exact = queryVectors.map((vector) => exactTopScores(vector, documents, 10));
    const search = new SearchService(runtime);

    const ingestRows: Array<Record<string, string | number>> = [];
    const latencyRows: Array<Record<string, string | number>> = [];
    const results: Record<string, unknown> = {};
    for (const storeName of Object.keys(stores)) {
      const target = await prepareTarget(runtime, storeName);
      console.log(`\n${storeName}: ingesting ${documents.length} documents`);
      // pgvector bulk path: vectors first, HNSW once afterwards (as bench:search does).
      if (storeName === 'pgvector')
        await db.query(`DROP INDEX IF EXISTS vectorsync."${target.record.location}_hnsw"`);
      let started = performance.now();
      for (let start = 0; start < documents.length; start += BATCH) {
        const outcomes = await target.store.upsert(target.spec, documents.slice(start, start + BATCH));
        const failed = outcomes.find((outcome) => outcome.outcome === 'failed');
        if (failed) throw failed.error;
      }
      const ingestSeconds = (performance.now() - started) / 1000;
      started = performance.now();
      if (storeName === 'pgvector') {
        await db.query(`SET maintenance_work_mem = '1GB'`);
        await target.store.ensureIndex(target.spec); // builds the HNSW index (CONCURRENTLY)
        await db.query(`VACUUM ANALYZE vectorsync."${target.record.location}"`);
      } else {
        await target.store.maintain?.(target.spec); // LanceDB: vector index + FTS/scalar index update
      }
      const indexSeconds = (performance.now() - started) / 1000;
      ingestRows.push({
        store: storeName,
        documents: documents.length,
        'ingest docs/s': Math.round(documents.length / ingestSeconds),
        'ingest s': ingestSeconds.toFixed(1),
        'index build s': indexSeconds.toFixed(1),
      });
      console.log(`${storeName}: ingest ${ingestSeconds.toFixed(1)} s, index ${indexSeconds.toFixed(1)} s`);

      const row: Record<string, string | number> = { store: storeName };
      for (const mode of MODES) {
        for (const query of queries.slice(0, 20))
          await search.search({ collection: 'docs', tenant: 'bench', query, mode, k: 10 }, { target });
        const latencies: number[] = [];
        for (const query of queries) {
          const began = performance.now();
          await search.search({ collection: 'docs', tenant: 'bench', query, mode, k: 10 }, { target });
          latencies.push(performance.now() - began);
        }
        row[`${mode} p50 ms`] = percentile(latencies, 50).toFixed(1);
        row[`${mode} p95 ms`] = percentile(latencies, 95).toFixed(1);
      }
      const recalls: number[] = [];
      for (const [index, vector] of queryVectors.entries()) {
        const hits = await target.store.search(target.spec, { tenant: 'bench', vector, k: 10 });
        // Tie-aware: a hit is right when it is as close as the exact 10th neighbour.
        const cutoff = (exact[index]!.at(-1) ?? 1) - 1e-6;
        const correct = hits.filter((hit) => hit.score >= cutoff).length;
        recalls.push(Math.min(correct, exact[index]!.length) / Math.max(1, exact[index]!.length));
      }
      row['dense recall@10'] = (recalls.reduce((sum, value) => sum + value, 0) / recalls.length).toFixed(4);
      latencyRows.push(row);
      results[storeName] = { ingest: ingestRows.at(-1), search: row };
      console.log(row);
    }

    console.log('\nIngest (pre-embedded documents, batches of 500, version-guarded upserts):');
    printTable(ingestRows);
    console.log('\nSearch (k = 10, tenant-scoped; hybrid = vectorsync fusion over both signals):');
    printTable(latencyRows);
    const markdown = `# Stores benchmark

\`npm run bench:stores${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\` — ${DOCS} documents of the realistic corpus (bench/realistic-corpus.ts), ${QUERIES} queries, ${EMBEDDER} embedder, one tenant.
${machineDescription()}.

Every store receives the same pre-embedded documents through its version-guarded \`upsert\`
(batches of ${BATCH}); searches go through the search service, so hybrid is vectorsync's fusion
(weighted min-max by default) over each store's dense and keyword candidates. Recall@10 compares
each store's dense top 10 with exact cosine search over the same vectors (tie-aware).

## Ingest

${markdownTable(ingestRows)}

pgvector: rows first, then the HNSW index (m 16, ef_construction 64) built once. LanceDB: rows,
then \`maintain()\` (IVF-HNSW-SQ vector index once the table holds \`annIndexMinRows\`, FTS and
scalar index update). Qdrant indexes while it ingests.

## Search

${markdownTable(latencyRows)}

Keyword scores differ by store (docs/stores.md): pgvector is exact BM25 with per-tenant
statistics; LanceDB and Qdrant use their own BM25/IDF over the same analysed terms.
`;
    await writeReport('stores', markdown, {
      docs: DOCS,
      queries: QUERIES,
      embedder: EMBEDDER,
      machine: machineDescription(),
      embedSeconds,
      results,
    });
  } finally {
    await runtime?.close();
    await env.close();
    await rm(lanceDir, { recursive: true, force: true });
  }
}

/** The collection's index in a store: the active pgvector one, or a new building one elsewhere. */
async function prepareTarget(runtime: VectorsyncRuntime, storeName: string): Promise<IndexTarget> {
  const collection = runtime.collection('docs');
  if (storeName === 'pgvector') return runtime.activeTarget('docs');
  const record = await createIndexRecord(runtime.db, {
    collection: 'docs',
    store: storeName,
    storeKind: runtime.config.stores[storeName]!.provider,
    embedding: collection.embedding,
    params: indexParamsFor(runtime.config.stores[storeName]!, collection.definition.config),
    state: 'building',
  });
  const target: IndexTarget = {
    record,
    spec: indexSpecFor(record, collection.definition),
    store: runtime.store(storeName),
    storeName,
    embedding: collection.embedding,
  };
  await target.store.ensureIndex(target.spec);
  return target;
}

/** The k best cosine similarities by brute force (vectors are compared as given, normalised here). */
function exactTopScores(query: Float32Array, documents: readonly EmbeddedDocument[], k: number): number[] {
  const norm = (v: Float32Array) => Math.sqrt(v.reduce((sum, x) => sum + x * x, 0)) || 1;
  const queryNorm = norm(query);
  const best: number[] = [];
  for (const document of documents) {
    const vector = document.vector;
    let dot = 0;
    for (let i = 0; i < vector.length; i++) dot += vector[i]! * query[i]!;
    const score = dot / (queryNorm * norm(vector));
    if (best.length < k || score > best[best.length - 1]!) {
      best.push(score);
      best.sort((a, b) => b - a);
      if (best.length > k) best.pop();
    }
  }
  return best;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
