/**
 * npm run bench:cdc — CDC (logical replication, pgoutput) into pgvector with the hash embedder:
 *  1. drain throughput of a backlog of changes pre-generated while the consumer is stopped:
 *     read+decode only, then applied at full and low dimensions, with and without HNSW;
 *  2. commit-to-searchable lag at steady single-row write rates (pgbench, its own process);
 *  3. documents API request latency over HTTP, dual-write (index written in the request)
 *     against outbox mode (it is not).
 * Flags (defaults are the full run): --changes=100000 --dims=384 --low-dims=8 --txn-rows=1000
 * --cdc-batch=2000 --rates=1000,5000 --lag-dims=384,8 --seconds=30 --lag-rows=20000 --requests=2000
 * --http-concurrency=4 --http-seed=20000 --parts=drain,lag,http --drains=384-hnsw,384-flat,8-hnsw,8-flat
 * A reduced run: --changes=20000 --seconds=10 --lag-rows=5000 --requests=600 --http-seed=5000
 */

import { mkdtemp } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseLsn } from '../src/capture/cdc/lsn.js';
import { generateCatalog } from '../src/demo/catalog-generator.js';
import { demoProductsTableSql } from '../src/demo/demo-schema.js';
import { HashEmbedder } from '../src/embedders/hash-embedder.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { CdcConsumer } from '../src/sync/cdc-consumer.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import {
  benchDatabase,
  machineDescription,
  markdownTable,
  percentile,
  printTable,
  writeReport,
} from './bench-environment.js';
import {
  benchConfig,
  indexDifferences,
  insertRows,
  runPgbench,
  updateRows,
  writePgbenchScript,
} from './cdc-bench-workload.js';
import { type DrainResult, decodeOnly, drainWithConsumer, slotReleased } from './cdc-drain.js';
import { measureDocumentRequests, type RequestLatency } from './dual-write-latency.js';

function numberArg(name: string, fallback: number): number {
  const value = process.argv.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1];
  return value ? Number(value) : fallback;
}
function listArg(name: string, fallback: string[]): string[] {
  const value = process.argv.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1];
  return value ? value.split(',').map((part) => part.trim()) : fallback;
}

const CHANGES = numberArg('changes', 100_000);
const DIMS = numberArg('dims', 384);
const LOW_DIMS = numberArg('low-dims', 8);
/** Lag runs at these dimensions: the full size (HNSW-bound on small machines) and the low one (the pipeline's own latency). */
const LAG_DIMS = listArg('lag-dims', [String(DIMS), String(LOW_DIMS)]).map(Number);
const TXN_ROWS = numberArg('txn-rows', 1000);
const CDC_BATCH = numberArg('cdc-batch', 2000);
const RATES = listArg('rates', ['1000', '5000']).map(Number);
const SECONDS = numberArg('seconds', 30);
const LAG_ROWS = numberArg('lag-rows', 20_000);
const REQUESTS = numberArg('requests', 2000);
const HTTP_CONCURRENCY = numberArg('http-concurrency', 4);
const HTTP_SEED = numberArg('http-seed', 20_000);
const PARTS = new Set(listArg('parts', ['drain', 'lag', 'http']));
/** Which drain runs: `<dims>-hnsw` / `<dims>-flat` for --dims and --low-dims. */
const DRAINS = new Set(
  listArg('drains', [`${DIMS}-hnsw`, `${DIMS}-flat`, `${LOW_DIMS}-hnsw`, `${LOW_DIMS}-flat`]),
);
const DRAIN_TARGET = 10_000;
const LAG_TARGET_P99_MS = 500;
const REDUCED = process.argv.slice(2).some((arg) => arg.startsWith('--'));

const log = (message: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${message}`);

interface DrainScenario {
  name: string;
  dims: number;
  hnsw: boolean;
  decode: boolean;
}

interface DrainOutcome extends DrainScenario {
  changes: number;
  inserts: number;
  updates: number;
  generateSeconds: number;
  decoded?: { seconds: number; changes: number; transactions: number };
  applied: DrainResult;
}

/**
 * Seeds half the changes as rows and lets the consumer index them (untimed), so that the
 * timed backlog holds real work: CHANGES/2 inserts of new rows, then CHANGES/2 updates that
 * change the embedded text of already indexed rows (each one a new vector and HNSW entry;
 * had the updated rows been new in the same backlog, the applier's re-read would fold each
 * insert and its update into one write).
 */
async function drainScenario(scenario: DrainScenario): Promise<DrainOutcome> {
  const env = await benchDatabase(`cdc_drain_${scenario.dims}_${scenario.hnsw ? 'hnsw' : 'flat'}`);
  try {
    await env.db.query(demoProductsTableSql);
    const config = benchConfig(env.url, { dimensions: scenario.dims, mode: 'cdc', cdcBatchSize: CDC_BATCH });
    const runtime = await VectorsyncRuntime.open({ config, db: env.db });
    await setupCollections(runtime);
    const location = runtime.activeTarget('products').record.location;
    if (!scenario.hnsw) await env.db.query(`DROP INDEX vectorsync."${location}_hnsw"`);
    const updates = Math.floor(CHANGES / 2);
    const inserts = CHANGES - updates;
    log(`${scenario.name}: seeding ${updates} rows through CDC (untimed)`);
    const seedMarker = await insertRows(env.url, {
      prefix: 'S',
      count: updates,
      perTransaction: TXN_ROWS,
      seed: 1,
    });
    await drainWithConsumer(runtime, seedMarker, CDC_BATCH);
    await env.db.query('CHECKPOINT');
    if (scenario.decode)
      await env.db.query(`SELECT pg_create_logical_replication_slot('bench_decode', 'pgoutput')`);
    const generateStarted = performance.now();
    await insertRows(env.url, { prefix: 'N', count: inserts, perTransaction: TXN_ROWS, seed: 2 });
    const marker = await updateRows(env.url, { prefix: 'S', count: updates, perTransaction: TXN_ROWS });
    const generateSeconds = (performance.now() - generateStarted) / 1000;
    log(`${scenario.name}: backlog of ${CHANGES} changes written in ${generateSeconds.toFixed(1)} s`);
    const decoded = scenario.decode
      ? await decodeOnly(env.db, env.url, 'bench_decode', config.cdc.publication, marker)
      : undefined;
    if (decoded) {
      if (decoded.changes !== CHANGES)
        throw new Error(`decode-only saw ${decoded.changes} changes, expected ${CHANGES}`);
      log(`${scenario.name}: decode only ${(decoded.changes / decoded.seconds).toFixed(0)} changes/s`);
    }
    const applied = await drainWithConsumer(runtime, marker, CDC_BATCH, inserts);
    if (applied.events !== CHANGES || applied.failed > 0)
      throw new Error(`applied ${applied.events} changes (${applied.failed} failed), expected ${CHANGES}`);
    const differences = await indexDifferences(env.db, location);
    if (differences > 0) throw new Error(`${differences} index rows differ from the source after the drain`);
    log(`${scenario.name}: applied ${(applied.events / applied.seconds).toFixed(0)} changes/s`);
    await runtime.close();
    return {
      ...scenario,
      changes: CHANGES,
      inserts,
      updates,
      generateSeconds,
      ...(decoded ? { decoded } : {}),
      applied,
    };
  } finally {
    await env.close();
  }
}

/** The hash embedder alone on the same kind of text: the embedding share of the applied rate. */
async function embeddingOnly(dims: number, count: number) {
  const texts = [...generateCatalog(count, 9)].map(
    (item) =>
      `${item.name}. ${item.product_type} in ${item.color} from ${item.department}. ${item.description}`,
  );
  const embedder = new HashEmbedder(dims);
  const started = performance.now();
  for (let start = 0; start < texts.length; start += 2000)
    await embedder.embed(texts.slice(start, start + 2000));
  const seconds = (performance.now() - started) / 1000;
  return { dims, texts: count, seconds, rate: count / seconds };
}

interface LagOutcome {
  rate: number;
  seconds: number;
  written: number;
  achievedRate: number;
  writeErrors: number;
  samples: number;
  appliedDuringWrites: number;
  catchUpSeconds: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  firstThirdP99: number;
  lastThirdP99: number;
}

/**
 * pgbench commits single-row transactions at a fixed rate; one CDC consumer (in this process,
 * which does nothing else meanwhile) applies them. Every applied change is a sample: the
 * consumer reports, per change, the time from its transaction's commit (the commit timestamp
 * in the WAL) to the moment its batch's index write had committed and the slot was confirmed.
 * The row is searchable at that version from that moment on (a little earlier, even), so the
 * figures are an upper bound on commit-to-searchable.
 */
async function lagScenario(rate: number, dims: number): Promise<LagOutcome> {
  const env = await benchDatabase(`cdc_lag_${rate}_${dims}`);
  const consumerBox: { consumer?: CdcConsumer } = {};
  try {
    await env.db.query(demoProductsTableSql);
    await env.db.query('CREATE SEQUENCE IF NOT EXISTS bench_ids');
    const config = benchConfig(env.url, { dimensions: dims, mode: 'cdc', cdcBatchSize: CDC_BATCH });
    const runtime = await VectorsyncRuntime.open({ config, db: env.db });
    await setupCollections(runtime);
    const location = runtime.activeTarget('products').record.location;
    log(`lag ${rate}/s at ${dims}-d: seeding ${LAG_ROWS} rows`);
    const seedMarker = await insertRows(env.url, {
      prefix: 'S',
      count: LAG_ROWS,
      perTransaction: TXN_ROWS,
      seed: 3,
    });
    const consumer = new CdcConsumer({ runtime, cdc: { batchSize: CDC_BATCH } });
    consumerBox.consumer = consumer;
    let confirmed = 0n;
    let recording = false;
    const samples: Array<{ commitAt: number; appliedAt: number; ms: number }> = [];
    consumer.on('batch', (report) => {
      confirmed = parseLsn(report.confirmedLsn);
      if (!recording) return;
      const appliedAt = Date.now();
      for (const lag of report.lags) samples.push({ commitAt: appliedAt - lag.ms, appliedAt, ms: lag.ms });
    });
    await consumer.start();
    await until(() => confirmed >= seedMarker, 600_000, 'the seed rows to be indexed');
    const dir = await mkdtemp(join(tmpdir(), 'vectorsync-cdc-bench-'));
    const script = await writePgbenchScript(dir, 'S', LAG_ROWS);
    log(`lag ${rate}/s: writing for ${SECONDS} s`);
    recording = true;
    const writeStarted = Date.now();
    const pgbench = await runPgbench(env.url, script, rate, SECONDS);
    const writeEnded = Date.now();
    await until(() => samples.length >= pgbench.transactions, 900_000, 'every written change to be applied');
    const catchUpSeconds = (Date.now() - writeEnded) / 1000;
    await consumer.stop();
    await slotReleased(env.db, config.cdc.slot);
    const differences = await indexDifferences(env.db, location);
    if (differences > 0)
      throw new Error(`${differences} index rows differ from the source after the lag run`);
    await runtime.close();
    const all = samples.map((s) => s.ms);
    const third = (writeEnded - writeStarted) / 3;
    const inWindow = (from: number, to: number) =>
      samples.filter((s) => s.commitAt >= from && s.commitAt < to).map((s) => s.ms);
    return {
      rate,
      seconds: SECONDS,
      written: pgbench.transactions,
      achievedRate: pgbench.transactions / SECONDS,
      writeErrors: pgbench.failed,
      samples: samples.length,
      appliedDuringWrites: samples.filter((s) => s.appliedAt <= writeEnded).length / SECONDS,
      catchUpSeconds,
      p50: percentile(all, 50),
      p95: percentile(all, 95),
      p99: percentile(all, 99),
      max: all.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY),
      firstThirdP99: percentile(inWindow(writeStarted, writeStarted + third), 99),
      lastThirdP99: percentile(inWindow(writeEnded - third, writeEnded + 1000), 99),
    };
  } finally {
    await consumerBox.consumer?.stop();
    await env.close();
  }
}

/** Per-change cost split from measured rates (µs): decode, embedding, HNSW insert, SQL path, total. */
function costBreakdown(full: number, noHnsw: number, decode: number, embed: number) {
  const micros = (rate: number) => 1_000_000 / rate;
  const total = micros(full);
  const parts = [
    { part: 'Read + decode (pgoutput)', micros: micros(decode) },
    { part: 'Embedding (hash)', micros: micros(embed) },
    { part: 'HNSW insert', micros: total - micros(noHnsw) },
  ];
  const sql = micros(noHnsw) - parts[0]!.micros - parts[1]!.micros;
  return [
    ...parts,
    { part: 'SQL path (row re-read, guarded upsert, BM25 postings, slot confirm)', micros: sql },
    { part: 'Total', micros: total },
  ].map((part) => ({ ...part, share: part.micros / total }));
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const fixed = (value: number, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : '—');

async function main() {
  const loadAtStart = loadavg()[0]!.toFixed(1);
  const command = `npm run bench:cdc${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  console.log(`vectorsync CDC benchmark — ${machineDescription()}; load average at start ${loadAtStart}\n`);

  const embedding = PARTS.has('drain')
    ? [await embeddingOnly(DIMS, 20_000), await embeddingOnly(LOW_DIMS, 20_000)]
    : [];
  const drains: DrainOutcome[] = [];
  if (PARTS.has('drain')) {
    const scenarios: DrainScenario[] = [
      { name: `${DIMS}-d, HNSW`, dims: DIMS, hnsw: true, decode: true },
      { name: `${DIMS}-d, no HNSW`, dims: DIMS, hnsw: false, decode: false },
      { name: `${LOW_DIMS}-d, HNSW`, dims: LOW_DIMS, hnsw: true, decode: false },
      { name: `${LOW_DIMS}-d, no HNSW`, dims: LOW_DIMS, hnsw: false, decode: false },
    ];
    for (const scenario of scenarios)
      if (DRAINS.has(`${scenario.dims}-${scenario.hnsw ? 'hnsw' : 'flat'}`))
        drains.push(await drainScenario(scenario));
  }
  const lags: Array<LagOutcome & { dims: number }> = [];
  if (PARTS.has('lag'))
    for (const dims of LAG_DIMS)
      for (const rate of RATES) lags.push({ ...(await lagScenario(rate, dims)), dims });
  const requests: RequestLatency[] = [];
  if (PARTS.has('http')) {
    for (const mode of ['outbox', 'dual-write'] as const) {
      log(`HTTP ${mode}: ${REQUESTS} requests`);
      requests.push(
        ...(await measureDocumentRequests({
          mode,
          dimensions: DIMS,
          seedRows: HTTP_SEED,
          requests: REQUESTS,
          concurrency: HTTP_CONCURRENCY,
        })),
      );
    }
  }
  const loadAtEnd = loadavg()[0]!.toFixed(1);

  const decodeRow = drains.find((d) => d.decoded);
  const drainRows = [
    ...(decodeRow?.decoded
      ? [
          {
            stage: 'read + decode only (no apply)',
            changes: decodeRow.decoded.changes,
            seconds: fixed(decodeRow.decoded.seconds, 2),
            'changes/s': fixed(decodeRow.decoded.changes / decodeRow.decoded.seconds),
            'inserts/s': '',
            'updates/s': '',
            'vectors embedded': '—',
            [`target ≥ ${DRAIN_TARGET.toLocaleString('en')}/s`]: '(ceiling)',
          },
        ]
      : []),
    ...drains.map((d) => ({
      stage: `applied: ${d.name}`,
      changes: d.applied.events,
      seconds: fixed(d.applied.seconds, 2),
      'changes/s': fixed(d.applied.events / d.applied.seconds),
      'inserts/s': d.applied.milestoneSeconds ? fixed(d.inserts / d.applied.milestoneSeconds) : '—',
      'updates/s': d.applied.milestoneSeconds
        ? fixed(d.updates / (d.applied.seconds - d.applied.milestoneSeconds))
        : '—',
      'vectors embedded': d.applied.embedded,
      [`target ≥ ${DRAIN_TARGET.toLocaleString('en')}/s`]:
        d.applied.events / d.applied.seconds >= DRAIN_TARGET ? 'met' : 'MISSED',
    })),
  ];
  const embeddingRows = embedding.map((e) => ({
    stage: `hash embedder alone, ${e.dims}-d`,
    texts: e.texts,
    'texts/s': fixed(e.rate),
  }));
  const lagRows = lags.map((l) => ({
    dims: l.dims,
    'target changes/s': l.rate,
    'written (achieved/s)': `${l.written} (${fixed(l.achievedRate)})`,
    'applied/s while writing': fixed(l.appliedDuringWrites),
    'catch-up after writes s': fixed(l.catchUpSeconds, 1),
    'lag p50 ms': fixed(l.p50),
    'lag p95 ms': fixed(l.p95),
    'lag p99 ms': fixed(l.p99),
    'lag max ms': fixed(l.max),
    'p99 first → last third ms': `${fixed(l.firstThirdP99)} → ${fixed(l.lastThirdP99)}`,
    [`target p99 ≤ ${LAG_TARGET_P99_MS} ms at 1,000/s`]:
      l.rate === 1000 && l.dims === DIMS
        ? l.p99 <= LAG_TARGET_P99_MS && l.achievedRate >= 0.95 * l.rate
          ? 'met'
          : 'MISSED'
        : '',
  }));
  const requestRows = requests.map((r) => ({
    mode: r.mode === 'dual-write' ? 'dual-write (index written in the request)' : 'outbox (no index write)',
    requests: `${r.op} × ${r.requests}`,
    errors: r.errors,
    'p50 ms': fixed(r.p50, 1),
    'p95 ms': fixed(r.p95, 1),
    'p99 ms': fixed(r.p99, 1),
    'max ms': fixed(r.max, 1),
    'answered drift': r.mode === 'dual-write' ? r.drift : '—',
  }));

  const reasons = requests.filter((r) => r.op === 'all').flatMap((r) => Object.entries(r.driftReasons));
  const driftNote = reasons.length
    ? `\n"Answered drift" counts requests whose index write did not complete in the request (answered with \`x-vectorsync-index: drift\`, repaired later from the outbox). Causes logged by the dual-writer:\n\n${reasons.map(([reason, count]) => `- ${count} × ${reason}`).join('\n')}\n`
    : '';
  const applied = (name: string) => drains.find((d) => d.name === name);
  const rateOf = (d: DrainOutcome | undefined) => (d ? d.applied.events / d.applied.seconds : Number.NaN);
  const full = applied(`${DIMS}-d, HNSW`);
  const fullRate = rateOf(full);
  const costs = costBreakdown(
    fullRate,
    rateOf(applied(`${DIMS}-d, no HNSW`)),
    decodeRow?.decoded ? decodeRow.decoded.changes / decodeRow.decoded.seconds : Number.NaN,
    embedding.find((e) => e.dims === DIMS)?.rate ?? Number.NaN,
  );
  const costRows = costs.map((c) => ({
    'per applied change': c.part,
    µs: fixed(c.micros),
    share: Number.isFinite(c.share) ? `${fixed(c.share * 100)}%` : '—',
  }));
  const largest = [...costs.slice(0, -1)].sort((a, b) => b.micros - a.micros)[0];
  const verdict = Number.isNaN(fullRate)
    ? ''
    : fullRate >= DRAIN_TARGET
      ? `**The ≥ ${DRAIN_TARGET.toLocaleString('en')} changes/s target is met** at ${DIMS}-d with the HNSW index present (${fixed(fullRate)} changes/s).`
      : `**The ≥ ${DRAIN_TARGET.toLocaleString('en')} changes/s target is MISSED** at ${DIMS}-d with the HNSW index present: ${fixed(fullRate)} changes/s, i.e. ${fixed(1_000_000 / fullRate)} µs per change against a budget of ${fixed(1_000_000 / DRAIN_TARGET)} µs.${largest && Number.isFinite(largest.micros) ? ` The largest part is ${largest.part.toLowerCase()} (about ${fixed(largest.micros)} µs per change); see "Where the time goes".` : ''}`;
  const breakdown = [
    decodeRow?.decoded
      ? `- Read + decode alone (walsender decoding, transport, pgoutput decoding in Node): ${fixed(decodeRow.decoded.changes / decodeRow.decoded.seconds)} changes/s. This is the ceiling of the CDC path here; everything below it is applying.`
      : '',
    `- Applied, ${DIMS}-d with HNSW: ${fixed(fullRate)}/s; without HNSW: ${fixed(rateOf(applied(`${DIMS}-d, no HNSW`)))}/s. The difference is the HNSW graph insert of every new vector.`,
    `- Applied, ${LOW_DIMS}-d with HNSW: ${fixed(rateOf(applied(`${LOW_DIMS}-d, HNSW`)))}/s; without HNSW: ${fixed(rateOf(applied(`${LOW_DIMS}-d, no HNSW`)))}/s. At ${LOW_DIMS}-d embedding and vector I/O are nearly free, so the no-HNSW ${LOW_DIMS}-d rate is the cost of the SQL path (re-reading the rows, the version-guarded upsert with payload and BM25 terms, confirming the slot).`,
    ...embedding.map(
      (e) =>
        `- The hash embedder alone embeds ${fixed(e.rate)} texts/s at ${e.dims}-d (one core, in process), so embedding costs about ${fixed(1_000_000 / e.rate, 0)} µs per change at ${e.dims}-d.`,
    ),
  ]
    .filter(Boolean)
    .join('\n');

  console.log('\nDrain throughput (backlog written while the consumer was stopped):');
  if (drainRows.length) printTable(drainRows);
  if (embeddingRows.length) printTable(embeddingRows);
  if (costRows.length && Number.isFinite(fullRate)) printTable(costRows);
  console.log(`\n${verdict}\n${breakdown}`);
  console.log('\nCommit-to-searchable lag at steady write rates (pgbench single-row transactions):');
  if (lagRows.length) printTable(lagRows);
  console.log(`\nDocuments API request latency (real HTTP, ${HTTP_CONCURRENCY} in flight):`);
  if (requestRows.length) printTable(requestRows);
  if (driftNote) console.log(driftNote);

  const markdown = `# CDC benchmark (logical replication → pgvector)

Measured by \`${command}\` on ${new Date().toISOString().slice(0, 10)}: ${machineDescription()}.
Load average (1 min): ${loadAtStart} at start, ${loadAtEnd} at the end.${REDUCED ? '\n\n**Reduced scale / non-default flags: not the reference run.**\n' : ''}
Postgres is a throwaway local cluster (\`wal_level = logical\`, durable commits: fsync on). Embedder: \`hash\`.
The pgvector index is the store's default HNSW (built before the load, so every new vector is a graph insert).
Consumer: one \`CdcConsumer\` (the same class \`vectorsync worker\` runs), \`cdc.batchSize\` = ${CDC_BATCH}.

## 1. Drain throughput

${CHANGES / 2} rows are inserted and indexed through CDC first (untimed). With the consumer
stopped, a backlog of ${CHANGES} changes is then written by direct SQL in transactions of ${TXN_ROWS} rows:
${CHANGES - Math.floor(CHANGES / 2)} inserts of new rows, then ${Math.floor(CHANGES / 2)} updates that change the embedded text of the
indexed rows (so every change is a new vector). The consumer is started and timed until the slot's
confirmed position passes the last source commit; the event count and the whole index (ids and
versions) are checked against the source afterwards. "Read + decode only" streams a second slot
created at the same point through the same replication transport and pgoutput decoder, applying
nothing.

${drainRows.length ? markdownTable(drainRows) : '_(not run)_'}

${embeddingRows.length ? markdownTable(embeddingRows) : ''}

${verdict}

### Where the time goes

${breakdown}

Approximate cost per applied change at ${DIMS}-d with HNSW, from differences of the measured rates
(decode from the decode-only rate, embedding from the embedder-alone rate, HNSW as the with/without
difference, the rest is the SQL path). The walsender decodes in its own process while Node applies,
so the parts overlap somewhat and the shares are indicative:

${costRows.length && Number.isFinite(fullRate) ? markdownTable(costRows) : '_(drain not run)_'}

## 2. Commit-to-searchable lag at steady write rates

\`pgbench\` (its own process) commits single-row transactions at a fixed rate (\`-R\`, Poisson
arrivals) for ${SECONDS} s against a ${LAG_ROWS}-row table: 70% updates that change the embedded text
of an existing row, 30% inserts. One CDC consumer applies them, at ${LAG_DIMS.join('-d and ')}-d (HNSW
index present): at ${DIMS}-d the HNSW insert of every new vector dominates; at ${LOW_DIMS}-d what remains is
the pipeline's own latency (decode, batch, re-read, write, confirm). Postgres, pgbench and
the consumer share the machine's cores. **Method:** every applied change is a sample (no
sampling). The consumer reports, per change, the time from its transaction's commit timestamp
(from the WAL) to the moment its batch's index write had committed and the slot was confirmed;
the row is searchable at that version from then on, so the figures are an upper bound on
commit-to-searchable. "p99 first → last third" compares changes committed in the first and the
last third of the run: a growing value means the consumer did not keep up. "Catch-up" is the
time from the end of the writes until the last change was applied.

${lagRows.length ? markdownTable(lagRows) : '_(not run)_'}

## 3. Dual-write request latency

The documents API (\`createServer\`, listening on 127.0.0.1: real HTTP, Node's \`fetch\` with
keep-alive as the client in the same process, ${HTTP_CONCURRENCY} requests in flight) over a ${HTTP_SEED}-row
collection at ${DIMS}-d: ${REQUESTS - Math.floor(REQUESTS / 2)} POSTs creating documents, then ${Math.floor(REQUESTS / 2)} PATCHes changing their
name. The same requests run once with the collection in \`outbox\` mode (the request writes the row
and, by trigger, its outbox event; no worker runs during the measurement) and once in
\`dual-write\` mode (the request then embeds and writes the index before answering).

${requestRows.length ? markdownTable(requestRows) : '_(not run)_'}
${driftNote}
`;
  await writeReport('cdc', markdown, {
    machine: machineDescription(),
    date: new Date().toISOString(),
    command,
    reduced: REDUCED,
    loadAverage: { start: Number(loadAtStart), end: Number(loadAtEnd) },
    flags: {
      changes: CHANGES,
      dims: DIMS,
      lowDims: LOW_DIMS,
      txnRows: TXN_ROWS,
      cdcBatch: CDC_BATCH,
      rates: RATES,
      seconds: SECONDS,
      lagRows: LAG_ROWS,
      requests: REQUESTS,
      httpConcurrency: HTTP_CONCURRENCY,
      httpSeed: HTTP_SEED,
    },
    embedding,
    drains,
    lags,
    requests,
  });
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
