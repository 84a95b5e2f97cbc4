/**
 * npm run bench:analysis — what one hostile document or query costs the service (issue 11):
 * /healthz latency and search throughput under 50 concurrent 4,096-letter queries, with the
 * analyzer as it was (no token cap, every token stemmed) and as it is; event-loop delay and
 * /healthz latency while 1 MB single-word documents are indexed, with the document work on
 * the event loop (sync.cpuThreads = 0) and in the worker threads; and the cost of the worker
 * threads for ordinary rows (a re-index of the catalog). One run, one database, under a minute.
 *
 *   npm run bench:analysis
 *   npm run bench:analysis -- --seconds=5      shorter load phases
 */
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import stem from 'wink-porter2-stemmer';
import { parseConfig, type ResolvedConfig } from '../src/config/resolve-config.js';
import { generateCatalog } from '../src/demo/catalog-generator.js';
import { demoConfig, demoProductsTableSql } from '../src/demo/demo-schema.js';
import { englishStopwords } from '../src/pipeline/analyzer.js';
import { resolveCpuThreads } from '../src/runtime/document-pool.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { createApiKey } from '../src/server/api-keys.js';
import { type RunningService, startService } from '../src/server/start-service.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import {
  benchDatabase,
  machineDescription,
  markdownTable,
  percentile,
  printTable,
  writeReport,
} from './bench-environment.js';

const SECONDS = Number(process.argv.find((arg) => arg.startsWith('--seconds='))?.split('=')[1] ?? 8);
const CATALOG = 2000;
const CLIENTS = 50;
const QUERY_LETTERS = 4096;
const BIG_DOCUMENTS = 3;
const BIG_LETTERS = 1_000_000;

type Env = Awaited<ReturnType<typeof benchDatabase>>;

/** The analyzer before the token cap: every token, however long, stemmed on the event loop. */
const legacyAnalyzer = {
  termFrequencies(text: string) {
    const normalise = (value: string) =>
      value
        .normalize('NFKD')
        .replace(/\p{M}+/gu, '')
        .toLowerCase();
    const stopwords = new Set(englishStopwords);
    const frequencies = new Map<string, number>();
    let length = 0;
    for (const word of normalise(text).match(/[\p{L}\p{N}]+/gu) ?? []) {
      if (stopwords.has(word)) continue;
      const term = /^[a-z]+$/.test(word) ? stem(word) : word;
      frequencies.set(term, (frequencies.get(term) ?? 0) + 1);
      length++;
    }
    return { frequencies, length };
  },
};

function benchConfig(env: Env, cpuThreads: number | 'auto'): ResolvedConfig {
  return parseConfig({
    ...demoConfig({ dimensions: 256 }),
    databaseUrl: env.url,
    sync: { cpuThreads, batchSize: 500, pollIntervalMs: 50, sweepIntervalMs: 200 },
    server: { host: '127.0.0.1', port: 0, runWorkers: true, rateLimit: false },
    reconcile: { schedule: { intervalMinutes: 0 } },
  });
}

async function open(env: Env, cpuThreads: number | 'auto') {
  const runtime = await VectorsyncRuntime.open({ config: benchConfig(env, cpuThreads) });
  await setupCollections(runtime);
  const service = await startService(runtime, runtime.logger);
  return { runtime, service };
}

async function drained(env: Env): Promise<void> {
  for (;;) {
    const { rows } = await env.db.query<{ open: number }>(
      `SELECT count(*)::int AS open FROM vectorsync.outbox WHERE status <> 'done'`,
    );
    if (rows[0]!.open === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * HTTP clients on a thread of their own, so their work does not sit on the server's event loop:
 * `clients` loops searching with distinct 4,096-letter queries (no query-vector cache hits),
 * and one loop probing /healthz every 20 ms, for `seconds`.
 */
function runLoad(url: string, key: string, clients: number, seconds: number) {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { url, key, clients, seconds, letters } = workerData;
    let running = true;
    const search = [], health = [];
    let errors = 0;
    function query(n) {
      let q = '';
      for (let i = 0; i < letters; i++) q += String.fromCharCode(97 + ((i * 7 + n * 13 + (i * n) % 5) % 26));
      return q;
    }
    async function searcher(c) {
      for (let n = c; running; n += clients) {
        const started = performance.now();
        const response = await fetch(url + '/v1/collections/products/search?k=10&q=' + query(n), { headers: { authorization: 'Bearer ' + key } }).catch(() => undefined);
        if (!response || response.status !== 200) errors++;
        else search.push(performance.now() - started);
        if (response) await response.arrayBuffer();
      }
    }
    async function prober() {
      while (running) {
        const started = performance.now();
        const response = await fetch(url + '/healthz').catch(() => undefined);
        if (response) { await response.arrayBuffer(); health.push(performance.now() - started); }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    parentPort.on('message', () => { running = false; });
    const started = performance.now();
    if (seconds > 0) setTimeout(() => { running = false; }, seconds * 1000);
    Promise.all([prober(), ...Array.from({ length: clients }, (_, c) => searcher(c))]).then(() => {
      parentPort.postMessage({ search, health, errors, seconds: (performance.now() - started) / 1000 });
    });
  `;
  const worker = new Worker(code, {
    eval: true,
    workerData: { url, key, clients, seconds, letters: QUERY_LETTERS },
  });
  const result = new Promise<{ search: number[]; health: number[]; errors: number; seconds: number }>(
    (resolve, reject) => {
      worker.once('message', (message) => {
        resolve(message);
        void worker.terminate();
      });
      worker.once('error', reject);
    },
  );
  return { result, stop: () => worker.postMessage('stop') };
}

const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(1) : '–');

async function queryPhase(service: RunningService, key: string, label: string) {
  const load = runLoad(service.url, key, CLIENTS, SECONDS);
  const { search, health, errors, seconds } = await load.result;
  return {
    analyzer: label,
    'searches/s': (search.length / seconds).toFixed(1),
    'search p50 ms': ms(percentile(search, 50)),
    'search p95 ms': ms(percentile(search, 95)),
    errors,
    '/healthz p50 ms': ms(percentile(health, 50)),
    '/healthz p95 ms': ms(percentile(health, 95)),
    '/healthz max ms': ms(Math.max(...health)),
  };
}

/** Inserts `count` rows of one `letters`-letter word each and measures the service while they are indexed. */
async function documentPhase(env: Env, service: RunningService, label: string, tag: string) {
  const delay = monitorEventLoopDelay({ resolution: 5 });
  const probe = runLoad(service.url, '', 0, 0);
  delay.enable();
  const started = performance.now();
  for (let i = 0; i < BIG_DOCUMENTS; i++) {
    await env.db.query(
      `INSERT INTO products (article_id, tenant_id, name, description, product_type, color)
       VALUES ($1, 'acme', 'Monolith', $2, 'Slab', 'Black')`,
      [`${tag}-${i}`, String.fromCharCode(97 + i).repeat(BIG_LETTERS)],
    );
  }
  await drained(env);
  const seconds = (performance.now() - started) / 1000;
  delay.disable();
  probe.stop();
  const { health } = await probe.result;
  const indexed = await env.db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM vectorsync.outbox WHERE source_id LIKE $1 AND status = 'done'`,
    [`${tag}-%`],
  );
  return {
    'document work': label,
    documents: `${indexed.rows[0]!.n} of ${BIG_DOCUMENTS} × 1 MB`,
    seconds: seconds.toFixed(2),
    'event-loop delay p99 ms': ms(delay.percentile(99) / 1e6),
    'event-loop delay max ms': ms(delay.max / 1e6),
    '/healthz p95 ms': ms(percentile(health, 95)),
    '/healthz max ms': ms(Math.max(...health)),
  };
}

/** Every catalog row changed once: ordinary documents through the pipeline. */
async function reindexPhase(env: Env, label: string, round: number) {
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const started = performance.now();
  await env.db.query(`UPDATE products SET description = description || $1 WHERE article_id NOT LIKE 'big%'`, [
    ` r${round}`,
  ]);
  await drained(env);
  const seconds = (performance.now() - started) / 1000;
  delay.disable();
  return {
    'document work': label,
    rows: CATALOG,
    seconds: seconds.toFixed(2),
    'rows/s': Math.round(CATALOG / seconds),
    'event-loop delay p99 ms': ms(delay.percentile(99) / 1e6),
    'event-loop delay max ms': ms(delay.max / 1e6),
  };
}

async function main(): Promise<void> {
  const load = loadavg()[0]!.toFixed(1);
  const env = await benchDatabase('analysis');
  try {
    await env.db.query(demoProductsTableSql);
    const catalog = [...generateCatalog(CATALOG, 3)];
    await env.db.query(
      `INSERT INTO products (article_id, tenant_id, name, description, product_type, color, department, price)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::numeric[])`,
      [
        catalog.map((item) => item.article_id),
        catalog.map(() => 'acme'),
        catalog.map((item) => item.name),
        catalog.map((item) => item.description),
        catalog.map((item) => item.product_type),
        catalog.map((item) => item.color),
        catalog.map((item) => item.department),
        catalog.map((item) => item.price),
      ],
    );
    const key = (await createApiKey(env.db, { name: 'bench', tenant: 'acme' })).key;
    const queryRows: Array<Record<string, string | number>> = [];
    const documentRows: Array<Record<string, string | number>> = [];
    const reindexRows: Array<Record<string, string | number>> = [];
    const threads = resolveCpuThreads('auto');

    // Before: the document work on the event loop (and, for queries, the analyzer as it was).
    {
      const { runtime, service } = await open(env, 0);
      await drained(env);
      console.log('[bench] main thread: catalog indexed');
      reindexRows.push(await reindexPhase(env, 'on the event loop (sync.cpuThreads = 0)', 1));
      documentRows.push(
        await documentPhase(env, service, 'on the event loop (sync.cpuThreads = 0)', 'big-main'),
      );
      console.log('[bench] main thread: 1 MB documents indexed');
      const collection = runtime.collection('products') as { analyzer: unknown };
      const capped = collection.analyzer;
      collection.analyzer = legacyAnalyzer;
      queryRows.push(await queryPhase(service, key, 'before: no token cap, every token stemmed'));
      collection.analyzer = capped;
      console.log('[bench] legacy analyzer: queries done');
      await service.stop();
      await runtime.close();
    }
    // After: capped analyzer, document work in the worker threads.
    {
      const { runtime, service } = await open(env, 'auto');
      reindexRows.push(await reindexPhase(env, `worker threads (${threads})`, 2));
      documentRows.push(await documentPhase(env, service, `worker threads (${threads})`, 'big-pool'));
      console.log('[bench] worker threads: 1 MB documents indexed');
      queryRows.push(await queryPhase(service, key, 'after: tokens split at 255, stemming up to 64 letters'));
      await service.stop();
      await runtime.close();
    }

    console.log(
      `\n${CLIENTS} concurrent clients, distinct ${QUERY_LETTERS}-letter queries (hybrid), ${SECONDS} s:`,
    );
    printTable(queryRows);
    console.log(
      `\n${BIG_DOCUMENTS} single-word documents of ${BIG_LETTERS.toLocaleString('en')} letters inserted and indexed, /healthz probed every 20 ms:`,
    );
    printTable(documentRows);
    console.log(`\nRe-index of ${CATALOG} catalog rows (one update each):`);
    printTable(reindexRows);

    const markdown = `# Analysis benchmark: hostile documents and queries

Measured by \`npm run bench:analysis\` on ${new Date().toISOString().slice(0, 10)}: ${machineDescription()}.
One process serves HTTP and runs the sync workers, as \`vectorsync serve\` does; the HTTP clients run on a thread of
their own in the same process. Collection: the demo catalog (${CATALOG.toLocaleString('en')} rows, \`hash\` embedder, 256-d),
pgvector, Postgres on the same 2 cores. Before and after are measured in the same run on the same database
(load average ${load} when the run started: the machine is shared).

## ${CLIENTS} concurrent ${QUERY_LETTERS.toLocaleString('en')}-letter queries

Each request is a distinct ${QUERY_LETTERS.toLocaleString('en')}-letter single-word query (hybrid mode, k = 10) for ${SECONDS} s, while
one client requests \`/healthz\` every 20 ms. Queries are analysed on the event loop in both rows; *before* swaps in
the analyzer as it was (no token cap, every token stemmed).

${markdownTable(queryRows)}

## 1 MB single-word documents

${BIG_DOCUMENTS} rows, each with a ${BIG_LETTERS.toLocaleString('en')}-letter description, inserted into the source one after the other
and indexed through the outbox, while \`/healthz\` is probed every 20 ms. Event-loop delay: \`monitorEventLoopDelay\`
(5 ms resolution) of the serving thread. Both rows use the capped analyzer; with the analyzer as it was, one such
document takes hours (stemming cost grows with the square of the token length: issue 11 measured 16.5 s for 40,000
letters), so it is not run here.

${markdownTable(documentRows)}

## The worker threads for ordinary rows

Every catalog row updated once and re-indexed (batches of up to 500).

${markdownTable(reindexRows)}
`;
    await writeReport('analysis', markdown, {
      machine: machineDescription(),
      loadAverage: Number(load),
      seconds: SECONDS,
      clients: CLIENTS,
      queryRows,
      documentRows,
      reindexRows,
    });
  } finally {
    await env.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
