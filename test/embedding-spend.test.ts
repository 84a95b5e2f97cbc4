import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig, type ResolvedConfig } from '../src/config/resolve-config.js';
import { clearBudget, setBudget } from '../src/costs/embedding-budgets.js';
import { demoConfig } from '../src/demo/demo-schema.js';
import { silentLogger } from '../src/logger.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { ServiceMetrics } from '../src/server/metrics.js';
import { readSyncStatus } from '../src/status/sync-status.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import { testBusConfig } from './helpers/bus-fixture.js';
import { FakeEmbeddingServer } from './helpers/fake-embedding-server.js';
import {
  assertIndexMatchesSource,
  createProductsTable,
  fastSync,
  indexMatchesSource,
  insertProducts,
  products,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

/** Dollars per million tokens: large, so that a few fake tokens make a measurable cost. */
const CALM_PRICE = 1000;
const BUSY_PRICE = 2000;

const ticketsTableSql = `
CREATE TABLE public.tickets (
  id text PRIMARY KEY,
  tenant_id text NOT NULL,
  body text NOT NULL,
  status text NOT NULL DEFAULT 'open',
  version bigint NOT NULL DEFAULT 0
)`;

async function openCount(db: TestDatabase['db'], collection: string): Promise<number> {
  const result = await db.query<{ open: number }>(
    `SELECT count(*)::int AS open FROM vectorsync.outbox WHERE collection = $1 AND status <> 'done'`,
    [collection],
  );
  return result.rows[0]!.open;
}

/** Distinct documents of a collection waiting in the outbox on `code` (CDC defers them there too). */
async function heldOn(db: TestDatabase['db'], collection: string, code: string): Promise<number> {
  const result = await db.query<{ held: number }>(
    `SELECT count(DISTINCT source_id)::int AS held FROM vectorsync.outbox
      WHERE collection = $1 AND status = 'pending' AND last_error_code = $2`,
    [collection, code],
  );
  return result.rows[0]!.held;
}

async function usage(db: TestDatabase['db'], collection: string) {
  const result = await db.query<{
    tenant: string;
    requests: string;
    texts: string;
    tokens: string;
    estimated_tokens: string;
    cost_usd: string | null;
    cached_texts: string;
    cached_tokens: string;
    saved_usd: string | null;
  }>(
    `SELECT tenant, sum(requests)::text AS requests, sum(texts)::text AS texts, sum(tokens)::text AS tokens,
            sum(estimated_tokens)::text AS estimated_tokens, sum(cost_usd)::text AS cost_usd,
            sum(cached_texts)::text AS cached_texts, sum(cached_tokens)::text AS cached_tokens,
            sum(saved_usd)::text AS saved_usd
       FROM vectorsync.embedding_usage WHERE collection = $1 AND lane = 'sync' GROUP BY tenant ORDER BY tenant`,
    [collection],
  );
  return new Map(
    result.rows.map((row) => [
      row.tenant,
      {
        requests: Number(row.requests),
        texts: Number(row.texts),
        tokens: Number(row.tokens),
        estimatedTokens: Number(row.estimated_tokens),
        costUsd: row.cost_usd === null ? null : Number(row.cost_usd),
        cachedTexts: Number(row.cached_texts),
        cachedTokens: Number(row.cached_tokens),
        savedUsd: row.saved_usd === null ? null : Number(row.saved_usd),
      },
    ]),
  );
}

const cases = [
  { mode: 'outbox', bus: false },
  { mode: 'cdc', bus: false },
  // The outbox publishes to JetStream and the bus consumer applies: its deferrals go to the outbox.
  { mode: 'outbox', bus: true },
] as const;

for (const { mode, bus } of cases)
  describe(`embedding spend, ${mode}${bus ? ' + bus' : ''} mode: per-provider limits, the cost ledger, budgets, no wasted calls`, () => {
    let testDb: TestDatabase;
    const calm = new FakeEmbeddingServer({ dimensions: 16 });
    const busy = new FakeEmbeddingServer({ dimensions: 16 });
    let config: ResolvedConfig;
    let runtime: VectorsyncRuntime;
    let workers: SyncWorkers;
    const productsLocation = () => runtime.activeTarget('products').record.location;
    const productsConverged = () =>
      waitFor(() => indexMatchesSource(testDb.db, productsLocation()), {
        message: 'the products index to equal the source',
      });
    const ticketsIndexed = async () =>
      (
        await testDb.db.query<{ count: number }>(
          `SELECT count(*)::int AS count FROM vectorsync."${runtime.activeTarget('tickets').record.location}"`,
        )
      ).rows[0]!.count;

    const insertTickets = async (tenant: string, from: number, count: number) => {
      await testDb.db.query(
        `INSERT INTO tickets (id, tenant_id, body)
       SELECT 't' || g, $1, 'ticket ' || g || ' about a broken zipper on order ' || (g * 7) FROM generate_series($2::int, $3::int) g`,
        [tenant, from, from + count - 1],
      );
    };

    before(async () => {
      testDb = await createTestDatabase(`embedding_spend_${mode}${bus ? '_bus' : ''}`);
      await createProductsTable(testDb.db);
      await testDb.db.query(ticketsTableSql);
      const calmUrl = await calm.start();
      const busyUrl = await busy.start();
      const base = demoConfig();
      config = parseConfig({
        ...base,
        databaseUrl: testDb.url,
        sync: { ...fastSync, batchSize: 50 },
        embedders: {
          calm: {
            provider: 'openai',
            model: 'calm-model',
            dimensions: 16,
            baseUrl: calmUrl,
            billed: true,
            apiKeyEnv: 'NO_KEY',
            batchSize: 20,
          },
          busy: {
            provider: 'openai',
            model: 'busy-model',
            dimensions: 16,
            baseUrl: busyUrl,
            billed: true,
            apiKeyEnv: 'NO_KEY',
            batchSize: 20,
            limits: { maxWaitMs: 20 },
          },
        },
        cdc: { slot: `vs_spend_${mode}`, batchDelayMs: 5, statusIntervalMs: 500, reconnectMaxMs: 500 },
        ...(bus ? { bus: testBusConfig(testDb) } : {}),
        collections: {
          products: { ...base.collections.products!, embedder: 'calm', sync: { mode, bus } },
          tickets: {
            table: 'public.tickets',
            primaryKey: 'id',
            tenantColumn: 'tenant_id',
            versionColumn: 'version',
            manageVersion: true,
            text: '{{body}}',
            keywordFields: ['body'],
            payloadFields: ['status'],
            store: 'main',
            embedder: 'busy',
            sync: { mode, bus },
          },
        },
        costs: {
          prices: {
            'calm-model': { perMillionTokens: CALM_PRICE },
            'openai:busy-model': { perMillionTokens: BUSY_PRICE },
          },
          ledgerFlushMs: 20,
          // Ten minutes: work held by a budget resumes only because `budget set`/`clear` wake it.
          budgetRecheckMs: 600_000,
        },
      });
      runtime = await VectorsyncRuntime.open({ config, db: testDb.connect() });
      await setupCollections(runtime);
      workers = new SyncWorkers(runtime, silentLogger);
      await workers.start();
    });

    after(async () => {
      await workers?.stop();
      await runtime?.close();
      await calm.stop();
      await busy.stop();
      await testDb?.drop();
    });

    it('a throttling provider pauses only the collection that uses it; nothing fails, and both converge once it recovers', async () => {
      // Every request to the busy provider is refused with 429 and OpenAI's rate-limit headers.
      busy.throttleTo({ requestsPerWindow: 0, windowMs: 300 });
      // Lag samples are of applied changes: none of the held tickets may be reported as one.
      const ticketLagSamples: number[] = [];
      const countLags = (report: { lags: Array<{ collection: string }> }) =>
        ticketLagSamples.push(report.lags.filter((lag) => lag.collection === 'tickets').length);
      workers.cdc?.on('batch', countLags);
      workers.busConsumer?.on('batch', countLags);
      await insertTickets('acme', 1, 60);
      await insertProducts(testDb.db, 'acme', products(120, 3));
      await insertProducts(
        testDb.db,
        'globex',
        products(40, 4).map((item) => ({ ...item, article_id: `g${item.article_id}` })),
      );

      await productsConverged();
      await waitFor(async () => (await heldOn(testDb.db, 'tickets', 'EMBEDDER_RATE_LIMITED')) === 60, {
        message: 'every ticket to wait on the rate limit',
      });
      assert.ok(busy.throttledCount > 0, 'the busy provider answered 429');
      assert.equal(await ticketsIndexed(), 0, 'no ticket can be applied while its provider refuses');
      const held = await testDb.db.query<{ failed: number; attempts: number; codes: string[] }>(
        `SELECT count(*) FILTER (WHERE status = 'failed')::int AS failed, coalesce(max(attempts) FILTER (WHERE status = 'pending'), 0)::int AS attempts,
              array_agg(DISTINCT last_error_code) FILTER (WHERE last_error_code IS NOT NULL) AS codes
         FROM vectorsync.outbox WHERE collection = 'tickets'`,
      );
      assert.equal(held.rows[0]!.failed, 0, 'a rate limit never fails an event');
      assert.equal(held.rows[0]!.attempts, 0, 'nor spends its attempts');
      assert.deepEqual(held.rows[0]!.codes, ['EMBEDDER_RATE_LIMITED']);
      if (mode === 'cdc' || bus) {
        // The stream's consumer queued what it could not apply in the outbox, and moved on.
        const origin = bus ? 'bus' : 'cdc';
        const queued = await testDb.db.query<{ n: number }>(
          `SELECT count(DISTINCT source_id)::int AS n FROM vectorsync.outbox WHERE collection = 'tickets' AND origin = $1`,
          [origin],
        );
        assert.equal(queued.rows[0]!.n, 60, `deferred with origin ${origin}`);
      }
      // The products went on meanwhile: the calm provider was called, the busy one only refused.
      const limits = runtime.embedderLimits().find((limit) => limit.model === 'openai:busy-model')!;
      assert.ok(limits.state.throttled > 0 && limits.state.deferred > 0, JSON.stringify(limits.state));
      assert.ok(limits.state.rateFactor < 1, 'adaptive backoff lowered the rate');
      assert.equal(busy.answered.length, 0, 'nothing was answered (or billed) while it throttled');

      assert.equal(
        ticketLagSamples.reduce((sum, n) => sum + n, 0),
        0,
        'a held change is not reported as applied',
      );
      workers.cdc?.off('batch', countLags);
      workers.busConsumer?.off('batch', countLags);
      busy.throttleTo(undefined);
      await waitFor(
        async () => (await ticketsIndexed()) === 60 && (await openCount(testDb.db, 'tickets')) === 0,
        {
          timeoutMs: 30_000,
          message: 'the tickets to be applied once the provider recovers',
        },
      );
      await assertIndexMatchesSource(testDb.db, productsLocation());
    });

    it('the ledger counts the tokens the provider billed, per tenant, with their cost, and the status and metrics show them', async () => {
      await runtime.ledger.flush();
      const calmTokens = calm.answered.reduce((sum, request) => sum + calm.tokensOf(request.input), 0);
      const calmTexts = calm.answered.reduce((sum, request) => sum + request.input.length, 0);
      const rows = await usage(testDb.db, 'products');
      assert.deepEqual([...rows.keys()], ['acme', 'globex']);
      const total = [...rows.values()].reduce(
        (sum, row) => ({
          requests: sum.requests + row.requests,
          texts: sum.texts + row.texts,
          tokens: sum.tokens + row.tokens,
          estimated: sum.estimated + row.estimatedTokens,
          cost: sum.cost + (row.costUsd ?? 0),
        }),
        { requests: 0, texts: 0, tokens: 0, estimated: 0, cost: 0 },
      );
      assert.equal(total.requests, calm.answered.length);
      assert.equal(total.texts, calmTexts);
      assert.equal(total.tokens, calmTokens, "tokens are the provider's usage");
      assert.equal(total.estimated, 0, 'the provider reported usage: nothing estimated');
      assert.ok(Math.abs(total.cost - (calmTokens / 1e6) * CALM_PRICE) < 1e-9);
      // globex had a third of the products: its share of tokens is about a third.
      const globexShare = rows.get('globex')!.tokens / calmTokens;
      assert.ok(globexShare > 0.15 && globexShare < 0.5, `globex share ${globexShare}`);

      const tickets = await usage(testDb.db, 'tickets');
      const busyTokens = busy.answered.reduce((sum, request) => sum + busy.tokensOf(request.input), 0);
      assert.equal(tickets.get('acme')!.tokens, busyTokens, 'refused (429) requests are not billed');
      assert.ok(Math.abs(tickets.get('acme')!.costUsd! - (busyTokens / 1e6) * BUSY_PRICE) < 1e-9);

      const status = await readSyncStatus(runtime);
      const productsStatus = status.collections.find((c) => c.collection === 'products')!;
      assert.equal(productsStatus.spend.today.tokens, calmTokens);
      assert.equal(productsStatus.spend.month.tokens, calmTokens);
      assert.ok(Math.abs(productsStatus.spend.today.costUsd! - total.cost) < 1e-9);

      const scrape = await new ServiceMetrics(runtime).registry.metrics();
      assert.match(
        scrape,
        new RegExp(`vectorsync_embedding_tokens_today\\{collection="products"\\} ${calmTokens}\\b`),
      );
      assert.match(scrape, /vectorsync_embedding_cost_usd_today\{collection="tickets"\} \d/);
      assert.match(
        scrape,
        /vectorsync_embedder_throttled_total\{model="openai:busy-model",base_url="[^"]+"\} [1-9]/,
      );
    });

    it('a change outside the embedding input never calls the embedder: the cache answers, and the ledger records the saving', async () => {
      const requestsBefore = calm.requests.length;
      const before = await usage(testDb.db, 'products');
      // price is payload only: each document is rebuilt with the same text.
      await testDb.db.query(`UPDATE products SET price = price + 1 WHERE tenant_id = 'acme'`);
      // The version alone may not move (CDC), so wait for the new prices in the index's payload.
      await waitFor(
        async () => {
          const result = await testDb.db.query<{ behind: number }>(
            `SELECT count(*)::int AS behind FROM products p JOIN vectorsync."${productsLocation()}" i ON i.id = p.article_id
              WHERE (i.payload->>'price')::numeric IS DISTINCT FROM p.price`,
          );
          return result.rows[0]!.behind === 0;
        },
        { message: 'the new prices in the index' },
      );
      await productsConverged();
      assert.equal(calm.requests.length, requestsBefore, 'no embedding request for a payload-only change');
      await runtime.ledger.flush();
      const after = await usage(testDb.db, 'products');
      const acme = after.get('acme')!;
      const acmeBefore = before.get('acme')!;
      assert.equal(acme.tokens, acmeBefore.tokens, 'nothing billed');
      assert.ok(
        acme.cachedTexts - acmeBefore.cachedTexts >= 100,
        `cached ${acme.cachedTexts - acmeBefore.cachedTexts}`,
      );
      assert.ok(acme.cachedTokens > acmeBefore.cachedTokens);
      assert.ok((acme.savedUsd ?? 0) > (acmeBefore.savedUsd ?? 0), 'the saving is priced');
      await assertIndexMatchesSource(testDb.db, productsLocation());
    });

    it('identical texts in a batch are embedded once', async () => {
      const requestsBefore = calm.answered.length;
      const twins = products(8, 77).map((item, index) => ({
        ...item,
        article_id: `twin${index}`,
        name: 'Identical twin sweater',
        description: 'the very same description for every one of them',
        product_type: 'Sweater',
        color: 'Grey',
        department: 'Knitwear',
      }));
      await insertProducts(testDb.db, 'acme', twins);
      await productsConverged();
      const inputs = calm.answered.slice(requestsBefore).flatMap((request) => request.input);
      assert.equal(inputs.filter((input) => input.startsWith('Identical twin sweater')).length, 1);
    });

    it("a tenant's spent budget pauses that tenant's embedding only, visibly, without dropping it; raising it resumes", async () => {
      await setBudget(testDb.db, { collection: 'products', tenant: 'globex', period: 'day', limitUsd: 0 });
      runtime.budgets.invalidate();
      const acmeItems = products(10, 11).map((item) => ({ ...item, article_id: `ba${item.article_id}` }));
      const globexItems = products(10, 12).map((item) => ({ ...item, article_id: `bg${item.article_id}` }));
      await insertProducts(testDb.db, 'acme', acmeItems);
      await insertProducts(testDb.db, 'globex', globexItems);

      const location = runtime.activeTarget('products').record.location;
      const indexedOf = async (ids: string[]) =>
        (
          await testDb.db.query<{ count: number }>(
            `SELECT count(*)::int AS count FROM vectorsync."${location}" WHERE id = ANY($1)`,
            [ids],
          )
        ).rows[0]!.count;
      await waitFor(async () => (await indexedOf(acmeItems.map((item) => item.article_id))) === 10, {
        message: "acme's products, which no budget holds",
      });
      await waitFor(async () => (await heldOn(testDb.db, 'products', 'EMBEDDING_BUDGET_EXHAUSTED')) === 10, {
        message: "globex's 10 documents to wait on the budget",
      });
      assert.equal(await indexedOf(globexItems.map((item) => item.article_id)), 0);
      const attempts = await testDb.db.query<{ failed: number; attempts: number }>(
        `SELECT count(*) FILTER (WHERE status = 'failed')::int AS failed, coalesce(max(attempts) FILTER (WHERE status = 'pending'), 0)::int AS attempts
         FROM vectorsync.outbox WHERE collection = 'products' AND status <> 'done'`,
      );
      assert.deepEqual(attempts.rows[0], { failed: 0, attempts: 0 });
      const status = await readSyncStatus(runtime);
      const budget = status.collections.find((c) => c.collection === 'products')!.budgets[0]!;
      assert.equal(budget.tenant, 'globex');
      assert.equal(budget.paused, true);
      assert.match(budget.reason!, /tenant "globex".*paused/);

      await setBudget(testDb.db, { collection: 'products', tenant: 'globex', period: 'day', limitUsd: 1000 });
      await waitFor(async () => (await indexedOf(globexItems.map((item) => item.article_id))) === 10, {
        message: "globex's products once its budget is raised",
      });
      const resumed = await readSyncStatus(runtime);
      assert.equal(resumed.collections.find((c) => c.collection === 'products')!.budgets[0]!.paused, false);
      await assertIndexMatchesSource(testDb.db, location);
    });

    it('a spent collection budget pauses the whole collection; clearing it resumes', async () => {
      await runtime.ledger.flush();
      // The collection has spent something today: a budget of that much is spent already.
      await setBudget(testDb.db, { collection: 'tickets', tenant: '', period: 'month', limitUsd: 0.000001 });
      await insertTickets('acme', 1000, 5);
      await insertTickets('globex', 2000, 5);
      await waitFor(async () => (await heldOn(testDb.db, 'tickets', 'EMBEDDING_BUDGET_EXHAUSTED')) === 10, {
        message: 'all 10 new tickets to wait on the collection budget',
      });
      assert.equal(await ticketsIndexed(), 60);
      await clearBudget(testDb.db, { collection: 'tickets', tenant: '', period: 'month' });
      await waitFor(
        async () => (await ticketsIndexed()) === 70 && (await openCount(testDb.db, 'tickets')) === 0,
        {
          message: 'the tickets once the budget is cleared',
        },
      );
    });
  });
