/**
 * npm run bench:spend [-- --products=2000]
 *
 * What embedding costs through a billed provider, from the ledger, for one catalog workload run
 * twice in the same run: with the Postgres embedding cache (the default) and with `cache: "none"`
 * (what a tool without content hashing pays). The provider is an OpenAI-compatible fake that bills
 * like a real one (usage.prompt_tokens; here one token per word), priced at
 * text-embedding-3-small's list price. Then a re-embed to another model: the synchronous lane's
 * estimate against what the batch lane was billed.
 */
import type { ConfigInput } from '../src/config/config-schema.js';
import { parseConfig } from '../src/config/resolve-config.js';
import { prewarmThroughBatches } from '../src/costs/batch-prewarm.js';
import { costOf } from '../src/costs/embedding-prices.js';
import { readSpend, type SpendSummary } from '../src/costs/usage-summary.js';
import { demoConfig, demoProductsTableSql } from '../src/demo/demo-schema.js';
import { silentLogger } from '../src/logger.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import { FakeEmbeddingServer } from '../test/helpers/fake-embedding-server.js';
import { FakeOpenAiBatches } from '../test/helpers/fake-openai-batches.js';
import { insertProducts, products } from '../test/helpers/products-fixture.js';
import {
  benchDatabase,
  integerArgument,
  machineDescription,
  markdownTable,
  printTable,
  waitForDrain,
  writeReport,
} from './bench-environment.js';

const PRODUCTS = integerArgument('products', 2000);
/** OpenAI's list price for text-embedding-3-small (synchronous / batch), US dollars per million tokens. */
const PRICE = { perMillionTokens: 0.02, batchPerMillionTokens: 0.01 };

function usd(amount: number | null): string {
  return amount === null ? 'unknown' : `$${amount.toFixed(6)}`;
}

/** The demo catalog embedded by the billed fake at `baseUrl`, priced at the list price. */
function benchConfig(
  databaseUrl: string,
  baseUrl: string,
  options: { cache: 'postgres' | 'none'; sync?: ConfigInput['sync'] },
) {
  return parseConfig({
    ...demoConfig(),
    databaseUrl,
    ...(options.sync ? { sync: options.sync } : {}),
    embedders: {
      default: {
        provider: 'openai',
        model: 'text-embedding-3-small',
        dimensions: 64,
        baseUrl,
        apiKeyEnv: 'NO_KEY',
        billed: true,
        cache: options.cache,
      },
    } satisfies ConfigInput['embedders'],
    costs: { prices: { 'text-embedding-3-small': PRICE }, ledgerFlushMs: 50 },
  });
}

type Phase = { phase: string; run: () => Promise<void> };

async function workload(cache: 'postgres' | 'none') {
  const bench = await benchDatabase(`spend_${cache}`);
  const server = new FakeEmbeddingServer({ dimensions: 64 });
  const baseUrl = await server.start();
  const rows: Array<Record<string, string | number>> = [];
  try {
    await bench.db.query(demoProductsTableSql);
    const config = benchConfig(bench.url, baseUrl, { cache, sync: { pollIntervalMs: 20, batchSize: 200 } });
    const runtime = await VectorsyncRuntime.open({ config, db: bench.db, logger: silentLogger });
    await setupCollections(runtime);
    const workers = new SyncWorkers(runtime, silentLogger);
    await workers.start();
    const items = products(PRODUCTS, 21);
    const tenth = Math.max(1, Math.floor(PRODUCTS / 10));
    const phases: Phase[] = [
      { phase: `backfill: insert ${PRODUCTS} products`, run: () => insertProducts(bench.db, 'acme', items) },
      {
        phase: `price change of all ${PRODUCTS} (payload only)`,
        run: async () => void (await bench.db.query('UPDATE products SET price = price + 1')),
      },
      {
        phase: `rename ${tenth} products`,
        run: async () =>
          void (await bench.db.query(
            `UPDATE products SET name = name || ' (new)' WHERE article_id IN (SELECT article_id FROM products ORDER BY article_id LIMIT ${tenth})`,
          )),
      },
      {
        phase: `rename the same ${tenth} back`,
        run: async () =>
          void (await bench.db.query(
            `UPDATE products SET name = left(name, length(name) - 6) WHERE name LIKE '% (new)'`,
          )),
      },
      {
        phase: `insert ${tenth} copies of existing products`,
        run: () =>
          insertProducts(
            bench.db,
            'acme',
            items.slice(0, tenth).map((item) => ({ ...item, article_id: `copy-${item.article_id}` })),
          ),
      },
    ];
    let previous: SpendSummary | undefined;
    for (const { phase, run } of phases) {
      const requestsBefore = server.answered.length;
      const started = performance.now();
      await run();
      await waitForDrain(bench.db);
      const seconds = (performance.now() - started) / 1000;
      await runtime.ledger.flush();
      const spend = (await readSpend(bench.db)).get('products')!.month;
      const delta = (now: number, before: number | undefined) => now - (before ?? 0);
      rows.push({
        cache,
        phase,
        requests: server.answered.length - requestsBefore,
        'texts embedded': delta(spend.texts, previous?.texts),
        tokens: delta(spend.tokens, previous?.tokens),
        cost: usd((spend.costUsd ?? 0) - (previous?.costUsd ?? 0)),
        'cache hits': delta(spend.cachedTexts, previous?.cachedTexts),
        saved: usd((spend.savedUsd ?? 0) - (previous?.savedUsd ?? 0)),
        seconds: seconds.toFixed(2),
      });
      previous = structuredClone(spend);
    }
    rows.push({
      cache,
      phase: 'total',
      requests: server.answered.length,
      'texts embedded': previous!.texts,
      tokens: previous!.tokens,
      cost: usd(previous!.costUsd),
      'cache hits': previous!.cachedTexts,
      saved: usd(previous!.savedUsd),
      seconds: '',
    });
    await workers.stop();
    await runtime.close();
  } finally {
    await server.stop();
    await bench.close();
  }
  return rows;
}

/** A re-embed to a new model: the synchronous lane's estimate against what the batch lane was billed. */
async function batchLane() {
  const bench = await benchDatabase('spend_batch');
  const server = new FakeEmbeddingServer({ dimensions: 64 });
  const batches = new FakeOpenAiBatches(server);
  const baseUrl = await server.start();
  try {
    await bench.db.query(demoProductsTableSql);
    await insertProducts(bench.db, 'acme', products(PRODUCTS, 21));
    const config = benchConfig(bench.url, baseUrl, { cache: 'postgres' });
    const runtime = await VectorsyncRuntime.open({ config, db: bench.db, logger: silentLogger });
    const started = performance.now();
    const { plan, report } = await prewarmThroughBatches(
      runtime,
      'products',
      runtime.collection('products').embedding,
      {
        logger: silentLogger,
        pollIntervalMs: 10,
      },
    );
    const seconds = (performance.now() - started) / 1000;
    const spend = (await readSpend(bench.db)).get('products')!.month;
    await runtime.close();
    return [
      {
        lane: 'dry-run estimate (gpt-tokenizer count)',
        texts: plan.toEmbed,
        tokens: plan.tokens,
        cost: `${usd(plan.costUsd)} sync, ${usd(plan.batchCostUsd)} batch`,
        'provider calls': 0,
        seconds: '-',
      },
      {
        lane: 'batch lane (billed, from the ledger)',
        texts: report.embedded,
        tokens: spend.byLane.batch?.tokens ?? 0,
        cost: usd(spend.byLane.batch?.costUsd ?? null),
        'provider calls': Object.values(batches.requests).reduce((sum, n) => sum + n, 0),
        seconds: seconds.toFixed(2),
      },
      {
        lane: 'the same billed tokens at the synchronous price',
        texts: report.embedded,
        tokens: spend.byLane.batch?.tokens ?? 0,
        cost: usd(costOf(PRICE, spend.byLane.batch?.tokens ?? 0, 'sync')),
        'provider calls': Math.ceil(report.embedded / 96),
        seconds: '-',
      },
    ];
  } finally {
    await server.stop();
    await bench.close();
  }
}

async function main() {
  const cached = await workload('postgres');
  const uncached = await workload('none');
  const sync = [...cached, ...uncached];
  printTable(sync);
  const lane = await batchLane();
  printTable(lane);
  const markdown = `# Embedding spend

\`npm run bench:spend -- --products=${PRODUCTS}\` on ${machineDescription()}.

## A catalog workload, with and without the embedding cache

The demo's products collection synced through the outbox into pgvector, embedded by an
OpenAI-compatible fake that bills like the real API (\`usage.prompt_tokens\`; one token per word
here), priced at text-embedding-3-small's list price ($${PRICE.perMillionTokens} per million tokens).
Tokens, cost, cache hits and savings are read from the ledger (\`vectorsync.embedding_usage\`);
requests are counted at the fake. The baseline is the same workload in the same run with
\`cache: "none"\`: what a pipeline without content hashing pays. A payload-only change (price)
embeds nothing with the cache; a text changed and changed back is answered by the cache the
second time; copies of existing products cost nothing. Savings are priced at the tokens
gpt-tokenizer counts in the cached texts (what the real API would bill for them); the fake bills
fewer (one per word), so here a saving looks larger than the cost it avoided.

${markdownTable(sync)}

## A re-embed to a new model: the batch lane

The same ${PRODUCTS} products through OpenAI's Batch API (a fake of its files and batches wire
format, polled every 10 ms here; the real API takes minutes to hours). The dry run's estimate
counts tokens with gpt-tokenizer, as the real API would bill them; the fake bills one per word,
so compare the last two rows, the same billed tokens at each lane's price. Provider calls: the
batch lane's uploads, creates, polls and downloads, against the synchronous API's requests of 96
texts.

${markdownTable(lane)}
`;
  await writeReport('spend', markdown, { products: PRODUCTS, sync, lane });
}

await main();
