import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import type { ConfigInput } from '../src/config/config-schema.js';
import { parseConfig } from '../src/config/resolve-config.js';
import { missingDataset } from '../src/eval/relevance-dataset.js';
import type { IndexBuildReport } from '../src/index-versions/build-index-version.js';
import { listIndexes } from '../src/index-versions/index-catalog.js';
import { silentLogger } from '../src/logger.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { SearchService } from '../src/search/search-service.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import { SyncWorkers } from '../src/sync/sync-workers.js';
import { CHILD_PROCESS_WAIT_MS } from './helpers/child-processes.js';
import { runCli } from './helpers/cli-process.js';
import { fastSync, waitForOutboxDrain } from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';

const dir = join(process.env.VECTORSYNC_DATASETS ?? '../shared/datasets', 'cranfield');
const problem = missingDataset(dir);
const TENANT = 'lab';

function gzipLines(path: string): string[] {
  return gunzipSync(readFileSync(path))
    .toString('utf8')
    .split('\n')
    .filter((line) => line.trim() !== '');
}

/** The judged dev queries, read here independently of the product's loader. */
function judgedQueries(): Array<{ text: string; judgments: Map<string, number> }> {
  const judgments = new Map<string, Map<string, number>>();
  for (const line of gzipLines(join(dir, 'qrels.tsv.gz'))) {
    const [query, doc, gain] = line.split('\t');
    if (!judgments.has(query!)) judgments.set(query!, new Map());
    judgments.get(query!)!.set(doc!, Number(gain));
  }
  return gzipLines(join(dir, 'queries.jsonl.gz'))
    .map((line) => JSON.parse(line) as { id: string; text: string })
    .filter((query) => [...(judgments.get(query.id)?.values() ?? [])].some((gain) => gain > 0))
    .map((query) => ({ text: query.text, judgments: judgments.get(query.id)! }));
}

/** nDCG@10 with linear gains, as the datasets' READMEs define it. */
function ndcg10(ranking: string[], judgments: Map<string, number>): number {
  const dcg = (gains: number[]) => gains.reduce((sum, gain, i) => sum + gain / Math.log2(i + 2), 0);
  const ideal = dcg(
    [...judgments.values()]
      .filter((gain) => gain > 0)
      .sort((a, b) => b - a)
      .slice(0, 10),
  );
  return dcg(ranking.slice(0, 10).map((id) => Math.max(0, judgments.get(id) ?? 0))) / ideal;
}

/** The operator's command: re-embed with the config's embedder, judged on the dataset. */
function reembedWithEval(config: ConfigInput) {
  return runCli(config, [
    'reembed',
    '-c',
    'articles',
    '--eval',
    dir,
    '--eval-tenant',
    TENANT,
    '--queries',
    '10',
    '--json',
  ]);
}

/**
 * `vectorsync reembed --eval` end to end, on a real judged collection (Cranfield's dev split):
 * a collection embedded with the hash embedder is re-embedded with the wink word vectors while
 * its workers run, and the CLI reports nDCG@10 of both versions on the judged queries. The test
 * recomputes each number from searches of its own on each version, and checks that the cut-over
 * followed the gate.
 */
describe('reembed --eval on a shared judged collection', {
  skip: problem ? `skipped: ${problem}` : false,
}, () => {
  let testDb: TestDatabase;
  let serving: VectorsyncRuntime;
  let workers: SyncWorkers;

  const input = (embedder: ConfigInput['embedders'][string]): ConfigInput => ({
    databaseUrl: testDb.url,
    embedders: { main: embedder },
    stores: { main: { provider: 'pgvector' } },
    collections: {
      articles: {
        table: 'public.articles',
        primaryKey: 'id',
        tenantColumn: 'tenant',
        versionColumn: 'version',
        manageVersion: true,
        text: '{{title}}. {{body}}',
        keywordFields: ['title', 'body'],
        store: 'main',
        embedder: 'main',
      },
    },
    sync: { ...fastSync, indexRefreshMs: 100 },
  });
  const oldInput = () => input({ provider: 'hash', dimensions: 64, cache: 'memory' });
  const newInput = () => input({ provider: 'wink' });

  before(async () => {
    testDb = await createTestDatabase('reembed_eval');
    await testDb.db.query(
      `CREATE TABLE articles (id text PRIMARY KEY, tenant text NOT NULL, title text, body text, version bigint NOT NULL DEFAULT 0)`,
    );
    const documents = gzipLines(join(dir, 'corpus.jsonl.gz'))
      .map((line) => JSON.parse(line) as { id: string; title: string; text: string })
      .filter((document) => `${document.title}${document.text}`.trim() !== '');
    await testDb.db.query(
      `INSERT INTO articles (id, tenant, title, body) SELECT u.id, $4, u.title, u.body
         FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, title, body)`,
      [documents.map((d) => d.id), documents.map((d) => d.title), documents.map((d) => d.text), TENANT],
    );
    serving = await VectorsyncRuntime.open({ config: parseConfig(oldInput()), logger: silentLogger });
    await setupCollections(serving);
    workers = new SyncWorkers(serving, silentLogger, { sync: { ...fastSync, concurrency: 2 } });
    await workers.start();
    await waitForOutboxDrain(testDb.db, { message: 'the collection to be indexed with the hash embedder' });
  });

  after(async () => {
    await workers?.stop();
    await serving?.close();
    await testDb?.drop();
  });

  it('reports nDCG@10 of both versions, each as its own searches give it, and cuts over only through the gate', {
    timeout: CHILD_PROCESS_WAIT_MS * 3,
  }, async (t) => {
    const oldLocation = serving.activeTarget('articles').record.location;
    const result = await reembedWithEval(newInput());
    const report = JSON.parse(result.stdout) as IndexBuildReport;
    const queries = judgedQueries();
    assert.equal(report.from.location, oldLocation);
    assert.equal(report.modelChanged, true);
    assert.ok(report.evaluation, result.output.slice(-2000));
    t.diagnostic(
      `nDCG@10 on ${report.evaluation.queries} queries: ${report.evaluation.modes
        .map((mode) => `${mode.mode} ${mode.from.toFixed(4)} → ${mode.to.toFixed(4)}`)
        .join(', ')}; cut over: ${report.cutover}`,
    );
    assert.equal(report.evaluation.queries, queries.length);
    assert.equal(report.evaluation.tenant, TENANT);
    assert.deepEqual(
      report.evaluation.modes.map((mode) => mode.mode),
      ['semantic', 'hybrid'],
    );

    // Both versions were measured with planner statistics: without them a dense search is an
    // exact sort, and the autovacuum that analyses the table later turns it into an HNSW scan
    // that may rank differently from what was reported.
    for (const location of [report.from.location, report.to.location]) {
      const analysed = await testDb.db.query<{ analysed: boolean }>(
        `SELECT last_analyze IS NOT NULL AS analysed FROM pg_stat_user_tables WHERE schemaname = 'vectorsync' AND relname = $1`,
        [location],
      );
      assert.equal(analysed.rows[0]?.analysed, true, `${location} has no ANALYZE of the build`);
    }

    // Each reported number is what searching that version gives.
    const operator = await VectorsyncRuntime.open({ config: parseConfig(newInput()), logger: silentLogger });
    try {
      await operator.refreshIndexes();
      const targets = operator.collection('articles').targets;
      const search = new SearchService(operator);
      for (const mode of report.evaluation.modes) {
        for (const [side, location] of [
          ['from', report.from.location],
          ['to', report.to.location],
        ] as const) {
          const target = targets.find((t) => t.record.location === location)!;
          let sum = 0;
          for (const query of queries) {
            const response = await search.search(
              { collection: 'articles', tenant: TENANT, query: query.text, mode: mode.mode, k: 10 },
              { target },
            );
            sum += ndcg10(
              response.hits.map((hit) => hit.id),
              query.judgments,
            );
          }
          assert.ok(
            Math.abs(sum / queries.length - mode[side]) < 1e-9,
            `${mode.mode} ${side}: reported ${mode[side]}, searched ${sum / queries.length}`,
          );
        }
      }
      // Two models rank differently: the same number for both would mean one version was searched twice.
      const semantic = report.evaluation.modes.find((mode) => mode.mode === 'semantic')!;
      assert.notEqual(semantic.from, semantic.to);

      // The gate: cut over exactly when no mode drops by more than --max-ndcg-drop (0.02).
      const passes = report.evaluation.modes.every((mode) => mode.to >= mode.from - 0.02);
      assert.equal(report.cutover, passes && report.problems.length === 0, JSON.stringify(report.problems));
      assert.equal(result.code, report.cutover ? 0 : 1, result.output.slice(-2000));
      const active = (await listIndexes(testDb.db, 'articles')).find((index) => index.state === 'active');
      assert.equal(active?.location, report.cutover ? report.to.location : oldLocation);
    } finally {
      await operator.close();
    }
  });

  it('refuses to cut over to a version whose nDCG@10 drops, exits 1, and keeps the serving one', {
    timeout: CHILD_PROCESS_WAIT_MS * 3,
  }, async () => {
    const serving = (await listIndexes(testDb.db, 'articles')).find((index) => index.state === 'active')!;
    assert.equal(
      serving.embedderModel.startsWith('wink'),
      true,
      'the first test cut over to the word vectors',
    );
    const retired = await runCli(newInput(), ['reembed', '-c', 'articles', '--retire']);
    assert.equal(retired.code, 0, retired.output.slice(-2000));

    // Back to the hash embedder, which ranks worse on these queries.
    const result = await reembedWithEval(oldInput());
    const report = JSON.parse(result.stdout) as IndexBuildReport;
    const semantic = report.evaluation!.modes.find((mode) => mode.mode === 'semantic')!;
    assert.ok(semantic.to < semantic.from - 0.02, JSON.stringify(report.evaluation));
    assert.equal(report.cutover, false);
    assert.equal(report.verified, false);
    assert.ok(
      report.problems.some((text) =>
        /^semantic nDCG@10 on cranfield drops from 0\.\d{3} to 0\.\d{3} \(more than 0\.02\)$/.test(text),
      ),
      JSON.stringify(report.problems),
    );
    assert.equal(result.code, 1, 'the exit code says the checks failed, with --json too');
    assert.match(result.output, /MIGRATION_NOT_VERIFIED/);
    const live = await listIndexes(testDb.db, 'articles');
    assert.equal(live.find((index) => index.state === 'active')?.location, serving.location);
    assert.equal(live.find((index) => index.location === report.to.location)?.state, 'building');

    const aborted = await runCli(oldInput(), ['reembed', '-c', 'articles', '--abort']);
    assert.equal(aborted.code, 0, aborted.output.slice(-2000));
    const after = await listIndexes(testDb.db, 'articles');
    assert.equal(after.find((index) => index.location === report.to.location)?.state, 'retired');
  });
});
