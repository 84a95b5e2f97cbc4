import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { demoConfig } from '../src/demo/demo-schema.js';
import { loadTokenizer } from '../src/pipeline/token-counter.js';
import { runCli } from './helpers/cli-process.js';
import { FakeEmbeddingServer } from './helpers/fake-embedding-server.js';
import { FakeOpenAiBatches } from './helpers/fake-openai-batches.js';
import { createProductsTable, fastSync, insertProducts, products } from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';

/** $1 a token: any backfill is over the $1 confirmation threshold. */
const PRICE = 1_000_000;
const ROWS = 30;

describe('spend estimates: --dry-run, confirmation above costs.confirmAboveUsd, and the batch lane (CLI)', () => {
  let testDb: TestDatabase;
  const server = new FakeEmbeddingServer({ dimensions: 16 });
  const batches = new FakeOpenAiBatches(server);
  let baseUrl: string;

  const config = (model: string, billed = true) => {
    const base = demoConfig();
    return {
      ...base,
      databaseUrl: testDb.url,
      sync: fastSync,
      embedders: {
        default: {
          provider: 'openai',
          model,
          dimensions: 16,
          baseUrl,
          apiKeyEnv: 'NO_KEY',
          tokenizer: 'cl100k_base',
          billed,
        },
      },
      costs: {
        prices: { [model]: { perMillionTokens: PRICE, batchPerMillionTokens: PRICE / 2 } },
        confirmAboveUsd: 1,
        batchPollIntervalMs: 20,
      },
    };
  };
  const indexedRows = async () => {
    const result = await testDb.db.query<{ location: string }>(
      `SELECT location FROM vectorsync.indexes WHERE collection = 'products' AND state = 'active'`,
    );
    if (!result.rows[0]) return 0;
    const rows = await testDb.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM vectorsync."${result.rows[0].location}"`,
    );
    return rows.rows[0]!.n;
  };

  before(async () => {
    testDb = await createTestDatabase('embedding_estimates_cli');
    await createProductsTable(testDb.db);
    baseUrl = await server.start();
    const items = products(ROWS, 5);
    // Two rows with the same text: one text to embed for both.
    items[1] = { ...items[0]!, article_id: items[1]!.article_id };
    await insertProducts(testDb.db, 'acme', items);
  });

  after(async () => {
    await server.stop();
    await testDb.drop();
  });

  it('setup --dry-run reports rows, distinct texts, exact tokens and cost, and changes nothing', async () => {
    // A database vectorsync has never been set up on.
    await testDb.db.query('DROP SCHEMA vectorsync CASCADE');
    const run = await runCli(config('m-one'), ['setup', '--dry-run']);
    assert.equal(run.code, 0, run.output);
    assert.equal(server.requests.length, 0, 'nothing embedded');
    const schema = await testDb.db.query<{ present: boolean }>(
      `SELECT to_regnamespace('vectorsync') IS NOT NULL AS present`,
    );
    assert.equal(schema.rows[0]!.present, false, 'nothing written, not even the schema');
    assert.match(run.stdout, /dry run: nothing was changed/);
    const row = run.stdout.split('\n').find((line) => line.includes('openai:m-one'))!;
    assert.ok(row, run.stdout);
    const cells = row.split(/\s{2,}|\s*\|\s*/).filter(Boolean);
    // collection, model, rows, texts, distinct, cached, to embed, tokens, cost, batch lane
    assert.deepEqual(cells.slice(0, 7), [
      'products',
      'openai:m-one',
      String(ROWS),
      String(ROWS),
      String(ROWS - 1),
      '0',
      String(ROWS - 1),
    ]);
    const estimatedTokens = Number(cells[7]!.replaceAll(',', ''));

    // The estimate is what the real tokenizer counts in the texts the provider is later sent.
    const setup = await runCli(config('m-one'), ['setup', '--yes', '--wait']);
    assert.equal(setup.code, 0, setup.output);
    const count = await loadTokenizer('cl100k_base', 'the test');
    const sent = server.answered.flatMap((request) => request.input);
    assert.equal(sent.length, ROWS - 1);
    assert.equal(
      estimatedTokens,
      sent.reduce((sum, text) => sum + count(text), 0),
    );
    assert.equal(cells[8], `$${estimatedTokens.toFixed(2)}`);
    assert.equal(cells[9], `$${(estimatedTokens / 2).toFixed(2)}`);
    assert.equal(await indexedRows(), ROWS);
  });

  it('a spend over the threshold is refused without --yes when nobody can be asked, and nothing is embedded', async () => {
    const before = server.requests.length;
    const run = await runCli(config('m-two'), ['reembed', '--collection', 'products']);
    assert.notEqual(run.code, 0);
    assert.match(run.output, /SPEND_NOT_CONFIRMED|--yes/);
    assert.match(run.output, /29 texts/);
    assert.equal(server.requests.length, before);
    const versions = await testDb.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM vectorsync.indexes`,
    );
    assert.equal(versions.rows[0]!.n, 1, 'no new version was started');
  });

  it('a self-hosted endpoint (not billed) is never asked about', async () => {
    const run = await runCli(config('m-two', false), ['reembed', '--collection', 'products', '--dry-run']);
    assert.equal(run.code, 0, run.output);
    const row = run.stdout.split('\n').find((line) => line.includes('openai:m-two'))!;
    assert.match(row, /not billed/);
  });

  it('reembed --dry-run is cache-aware: the same model costs nothing, another model all of it', async () => {
    const same = await runCli(config('m-one'), ['reembed', '--collection', 'products', '--dry-run']);
    assert.equal(same.code, 0, same.output);
    const sameRow = same.stdout.split('\n').find((line) => line.includes('openai:m-one'))!;
    assert.match(sameRow, /\b29\b.*\b29\b.*\b0\b.*\$0\b/, sameRow);
    const other = await runCli(config('m-two'), ['reembed', '--collection', 'products', '--dry-run']);
    assert.equal(other.code, 0, other.output);
    const otherRow = other.stdout.split('\n').find((line) => line.includes('openai:m-two'))!;
    assert.ok(
      otherRow
        .split(/\s{2,}|\s*\|\s*/)
        .filter(Boolean)
        .slice(5, 7)
        .join(' ') === '0 29',
      otherRow,
    );
  });

  it('reembed --batch embeds through the Batch API, records it in the ledger, and the build sends nothing to the synchronous API', async () => {
    const syncBefore = server.requests.length;
    const run = await runCli(config('m-three'), ['reembed', '--collection', 'products', '--batch', '--yes']);
    assert.equal(run.code, 0, run.output);
    assert.equal(batches.requests.upload, 1);
    assert.equal(batches.requests.create, 1);
    assert.equal(batches.submittedLines().length, ROWS - 1);
    // The synchronous API saw only the verification's search queries, not one document text.
    const documentTexts = new Set(batches.submittedLines().map((line) => String(line.body.input)));
    const syncInputs = server.requests.slice(syncBefore).flatMap((request) => request.input);
    assert.ok(documentTexts.size === ROWS - 1);
    assert.deepEqual(
      syncInputs.filter((input) => documentTexts.has(input)),
      [],
      'every document vector came from the batch, through the cache',
    );
    const active = await testDb.db.query<{ model: string }>(
      `SELECT embedder_model AS model FROM vectorsync.indexes WHERE collection = 'products' AND state = 'active'`,
    );
    assert.equal(active.rows[0]!.model, 'openai:m-three');
    assert.equal(await indexedRows(), ROWS);
    const ledger = await testDb.db.query<{ lane: string; texts: string; cost: string }>(
      `SELECT lane, sum(texts)::text AS texts, sum(cost_usd)::text AS cost FROM vectorsync.embedding_usage
        WHERE model = 'openai:m-three' GROUP BY lane ORDER BY lane`,
    );
    assert.equal(ledger.rows[0]!.lane, 'batch');
    assert.equal(Number(ledger.rows[0]!.texts), ROWS - 1);
    const tokens = batches
      .submittedLines()
      .reduce((sum, line) => sum + server.tokensOf([String(line.body.input)]), 0);
    assert.ok(
      Math.abs(Number(ledger.rows[0]!.cost) - (tokens / 1e6) * (PRICE / 2)) < 1e-6,
      'at the batch price',
    );
    const sync = ledger.rows.find((row) => row.lane === 'sync');
    assert.ok(!sync || Number(sync.texts) === 0, 'nothing billed on the synchronous lane');
  });
});
