import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ConfigInput } from '../src/config/config-schema.js';
import { parseConfig } from '../src/config/resolve-config.js';
import { demoConfig } from '../src/demo/demo-schema.js';
import { ErrorCode, isVectorsyncError } from '../src/errors.js';
import { listIndexes } from '../src/index-versions/index-catalog.js';
import {
  abortBuild,
  migrationState,
  retireStandby,
  rollbackToStandby,
} from '../src/index-versions/migration-lifecycle.js';
import { reembed } from '../src/index-versions/reembed.js';
import { silentLogger } from '../src/logger.js';
import { reconcileCollection } from '../src/reconcile/reconcile-collection.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { SearchService } from '../src/search/search-service.js';
import { ID_BUCKETS } from '../src/stores/id-bucket.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import { CHILD_PROCESS_WAIT_MS } from './helpers/child-processes.js';
import { startCli } from './helpers/cli-process.js';
import { startContinuousWriter } from './helpers/continuous-writer.js';
import {
  createProductsTable,
  fastSync,
  insertProducts,
  openProductsRuntime,
  outboxDrained,
  products,
  waitForOutboxDrain,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

const OLD_DIMENSIONS = 32;
const NEW_DIMENSIONS = 48;
/** Rows the searches look for: each has a word no other row has, and no writer touches it. */
const MARKED = 40;

/** letters only, so the analyzer keeps it one token: 0 → "zqaa", 27 → "zqbb" */
function marker(n: number): string {
  return `zq${String.fromCharCode(97 + Math.floor(n / 26))}${String.fromCharCode(97 + (n % 26))}`;
}

/** Records of a live version, counted through its store's scan (the same for every store). */
async function recordCount(runtime: VectorsyncRuntime, location: string): Promise<number> {
  await runtime.refreshIndexes();
  const target = runtime.collection('products').targets.find((t) => t.record.location === location);
  if (!target) return 0;
  let count = 0;
  let cursor: string | undefined;
  do {
    const page = await target.store.scan(target.spec, {
      bucketFrom: 0,
      bucketTo: ID_BUCKETS - 1,
      limit: 1000,
      ...(cursor ? { cursor } : {}),
    });
    count += page.records.length;
    cursor = page.cursor ?? undefined;
  } while (cursor);
  return count;
}

for (const storeKind of ['pgvector', 'lancedb'] as const) {
  describe(`re-embedding a collection blue/green (${storeKind}): new dimensions, no moment of degraded search`, () => {
    let testDb: TestDatabase;
    let dataDir: string;
    let oldInput: ConfigInput;
    let newInput: ConfigInput;
    let serving: VectorsyncRuntime;
    let operator: VectorsyncRuntime;
    let workers: SyncWorkers;
    let oldLocation: string;

    const input = (dimensions: number): ConfigInput => ({
      ...demoConfig({ dimensions }),
      databaseUrl: testDb.url,
      sync: { ...fastSync, indexRefreshMs: 100 },
      stores: {
        main: storeKind === 'pgvector' ? { provider: 'pgvector' } : { provider: 'lancedb', dataDir },
      },
    });
    const state = () => migrationState(operator, 'products');
    const unfinished = async () => (await state()).building.map((record) => record.location);

    /** Starts the CLI's reembed and SIGKILLs it once its fill has written `atLeast` records. */
    async function killMidFill(atLeast: number): Promise<string> {
      const cli = await startCli(newInput, ['reembed', '--collection', 'products', '--page-size', '50']);
      const location = await waitFor(async () => (await unfinished())[0], {
        timeoutMs: CHILD_PROCESS_WAIT_MS,
        message: () => `the CLI to register its build; it printed:\n${cli.output().slice(-2000)}`,
      });
      await waitFor(async () => (await recordCount(operator, location)) >= atLeast, {
        timeoutMs: CHILD_PROCESS_WAIT_MS,
        message: () =>
          `the CLI's fill to write ${atLeast} records; it printed:\n${cli.output().slice(-2000)}`,
      });
      assert.equal(cli.child.exitCode, null, `the CLI finished before it was killed:\n${cli.output()}`);
      cli.child.kill('SIGKILL');
      await cli.exited;
      return location;
    }

    before(async () => {
      testDb = await createTestDatabase(`reembed_${storeKind}`);
      dataDir = await mkdtemp(join(tmpdir(), 'vectorsync-reembed-'));
      await createProductsTable(testDb.db);
      oldInput = input(OLD_DIMENSIONS);
      newInput = input(NEW_DIMENSIONS);
      // The service, still on the old config: its workers keep syncing during the whole change.
      serving = await openProductsRuntime(testDb, { config: parseConfig(oldInput) });
      workers = new SyncWorkers(serving, silentLogger, { sync: { ...fastSync, concurrency: 2 } });
      await workers.start();
      // The operator's process, with the config that names the new embedder.
      operator = await openProductsRuntime(testDb, { config: parseConfig(newInput), setup: false });
      await insertProducts(testDb.db, 'acme', products(1500, 71));
      await insertProducts(
        testDb.db,
        'globex',
        products(1000, 72).map((item) => ({ ...item, article_id: `g${item.article_id}` })),
      );
      await testDb.db.query(
        // The last rows in key order: a fill reaches them last, so a search answered by the
        // version being built would miss them.
        `WITH marked AS (SELECT article_id, row_number() OVER (ORDER BY article_id DESC) - 1 AS n
                           FROM products WHERE tenant_id = 'acme' ORDER BY article_id DESC LIMIT ${MARKED})
         UPDATE products p SET name = p.name || ' ' || ($1::text[])[m.n + 1] FROM marked m WHERE p.article_id = m.article_id`,
        [Array.from({ length: MARKED }, (_, n) => marker(n))],
      );
      await waitFor(() => outboxDrained(testDb.db), { message: 'the initial rows to sync' });
      oldLocation = serving.activeTarget('products').record.location;
    });

    after(async () => {
      await workers.stop();
      await operator.close();
      await serving.close();
      await testDb.drop();
      await rm(dataDir, { recursive: true, force: true });
    });

    it('a build killed mid-fill leaves the old version serving, and is cleanly aborted', async () => {
      const killed = await killMidFill(200);
      const after = await state();
      assert.equal(after.active.location, oldLocation);
      assert.deepEqual(
        after.building.map((record) => record.location),
        [killed],
      );
      const response = await new SearchService(serving).search({
        collection: 'products',
        tenant: 'acme',
        query: marker(3),
        mode: 'hybrid',
        k: 10,
      });
      assert.ok(response.hits.length > 0);

      await abortBuild(operator, 'products', silentLogger);
      assert.deepEqual(await unfinished(), []);
      const record = (await listIndexes(testDb.db, 'products')).find((index) => index.location === killed);
      assert.equal(record?.state, 'retired');
      if (storeKind === 'pgvector') {
        const table = await testDb.db.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [
          `vectorsync.${killed}`,
        ]);
        assert.equal(table.rows[0]!.t, null, 'the half-built table is dropped');
      }
    });

    it('resumes a killed build and cuts over under continuous writes and searches: 0 partial answers, then equal to a fresh build', async () => {
      const killed = await killMidFill(300);
      // LanceDB applies small writes to two tables at a lower rate than pgvector on this machine;
      // a slower writer keeps the backlog (and the test) short without fewer kinds of change.
      const writer = startContinuousWriter(testDb.db, {
        seed: storeKind === 'pgvector' ? 5 : 6,
        pauseMs: storeKind === 'pgvector' ? 5 : 20,
      });
      const partial: string[] = [];
      const errors: string[] = [];
      const answeredBy = new Map<string, number>();
      let searching = true;
      const searcher = (async () => {
        const services = [new SearchService(serving), new SearchService(operator)];
        for (let i = 0; searching; i++) {
          const n = i % MARKED;
          const runtime = i % 2 === 0 ? serving : operator;
          const before = runtime.activeTarget('products').record.location;
          try {
            const response = await services[i % 2]!.search({
              collection: 'products',
              tenant: 'acme',
              query: marker(n),
              mode: 'hybrid',
              k: 10,
            });
            const after = runtime.activeTarget('products').record.location;
            if (before === after) answeredBy.set(before, (answeredBy.get(before) ?? 0) + 1);
            const names = await testDb.db.query<{ id: string }>(
              `SELECT article_id AS id FROM products WHERE name LIKE '%' || $1`,
              [` ${marker(n)}`],
            );
            if (!response.hits.some((hit) => hit.id === names.rows[0]?.id))
              partial.push(`${marker(n)} missing from ${before}`);
          } catch (error) {
            errors.push(`${before}: ${(error as Error).message}`);
          }
        }
      })();

      let report: Awaited<ReturnType<typeof reembed>>;
      try {
        report = await reembed(operator, { collection: 'products', pageSize: 100, queries: 20 });
      } finally {
        const stats = await writer.stop();
        assert.ok(stats.inserts + stats.updates + stats.deletes > 20, JSON.stringify(stats));
        searching = false;
        await searcher;
      }
      assert.deepEqual(report.problems, []);
      assert.equal(report.to.location, killed);
      assert.equal(report.to.resumed, true);
      assert.equal(report.modelChanged, true);
      assert.equal(report.cutover, true);
      assert.deepEqual(errors.slice(0, 5), []);
      assert.deepEqual(partial.slice(0, 5), [], `${partial.length} partial answers`);
      assert.ok((answeredBy.get(oldLocation) ?? 0) >= 10, JSON.stringify([...answeredBy]));
      await waitFor(() => serving.activeTarget('products').record.location === killed, {
        message: 'the service to search the new version',
      });

      // After the writes are applied, the new version is what a fresh build from the source
      // with the new embedder gives (ids, versions, tenants and content hashes, which name the
      // model and its dimensions), and the old one is still current with its own.
      await waitForOutboxDrain(testDb.db, { message: 'the writes made during the build' });
      for (const location of [killed, oldLocation]) {
        const target = operator.collection('products').targets.find((t) => t.record.location === location)!;
        const check = await reconcileCollection(operator, {
          collection: 'products',
          indexId: target.record.id,
        });
        assert.equal(check.inSync, true, `${location}: ${JSON.stringify(check.counts)}`);
      }
      const versions = operator
        .collection('products')
        .targets.map((t) => t.record.dimensions)
        .sort();
      assert.deepEqual(versions, [OLD_DIMENSIONS, NEW_DIMENSIONS]);
    });

    it('rolls back to the old version while it is kept, and retires it only once the config names the active one', async () => {
      const newLocation = (await state()).active.location;
      await rollbackToStandby(operator, 'products');
      await serving.refreshIndexes();
      assert.equal(serving.activeTarget('products').record.location, oldLocation);
      assert.equal(serving.activeTarget('products').record.dimensions, OLD_DIMENSIONS);
      const response = await new SearchService(operator).search({
        collection: 'products',
        tenant: 'acme',
        query: marker(7),
        mode: 'semantic',
        k: 5,
      });
      assert.equal(response.hits.length, 5, 'semantic search on the old version, with its own model');
      await assert.rejects(retireStandby(operator, 'products', silentLogger), (error: unknown) =>
        isVectorsyncError(error, ErrorCode.ConfigInvalid),
      );

      await rollbackToStandby(operator, 'products');
      await retireStandby(operator, 'products', silentLogger);
      const live = await listIndexes(testDb.db, 'products');
      assert.deepEqual(
        live.filter((index) => index.state !== 'retired').map((index) => index.location),
        [newLocation],
      );
      await setupCollections(operator);
      // The service on the old config keeps the new version current, with the new model.
      await testDb.db.query(`UPDATE products SET price = price + 1 WHERE tenant_id = 'globex'`);
      await waitForOutboxDrain(testDb.db, { message: 'the update' });
      const check = await reconcileCollection(operator, { collection: 'products' });
      assert.equal(check.inSync, true, JSON.stringify(check.counts));
    });
  });
}
