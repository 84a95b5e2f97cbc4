import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { loadRelevanceDataset, missingDataset } from '../src/eval/relevance-dataset.js';
import { dcg, ndcgAt, recallAt, reciprocalRankAt } from '../src/eval/relevance-metrics.js';
import { runEvaluation } from '../src/eval/run-evaluation.js';
import { FakeEmbeddingServer } from './helpers/fake-embedding-server.js';
import { createTestDatabase } from './helpers/test-environment.js';

const judgments = (entries: Array<[string, number]>) => new Map(entries);

/** Writes a dataset in the shared format (what relevance-dataset.ts reads) to a temp directory. */
async function writeDataset(
  corpus: Array<{ id: string; title: string; text: string }>,
  queries: Array<{ id: string; text: string }>,
  qrels: string,
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vectorsync-dataset-'));
  await writeFile(
    join(dir, 'corpus.jsonl.gz'),
    gzipSync(corpus.map((row) => JSON.stringify(row)).join('\n')),
  );
  await writeFile(
    join(dir, 'queries.jsonl.gz'),
    gzipSync(queries.map((row) => JSON.stringify(row)).join('\n')),
  );
  await writeFile(join(dir, 'qrels.tsv.gz'), gzipSync(qrels));
  return dir;
}

const animals = [
  { id: 'd1', title: 'Penguins', text: 'Penguins live in Antarctica and eat fish.' },
  { id: 'd2', title: 'Polar bears', text: 'Polar bears hunt seals on Arctic sea ice.' },
  { id: 'd3', title: 'Camels', text: 'Camels cross deserts and store fat in their humps.' },
  {
    id: 'd4',
    title: 'Antarctic krill',
    text: 'Krill swarm in the Southern Ocean near Antarctica; penguins eat krill.',
  },
];

describe('relevance metrics', () => {
  it('compute nDCG with linear gains and the ideal from the judged documents', () => {
    // Ranking d3 (gain 1), d1 (gain 3), d9 (unjudged), d2 (gain 2).
    const ranking = ['d3', 'd1', 'd9', 'd2'];
    const qrels = judgments([
      ['d1', 3],
      ['d2', 2],
      ['d3', 1],
      ['d4', 0],
    ]);
    const actual = 1 / Math.log2(2) + 3 / Math.log2(3) + 0 / Math.log2(4) + 2 / Math.log2(5);
    const ideal = 3 / Math.log2(2) + 2 / Math.log2(3) + 1 / Math.log2(4);
    assert.ok(Math.abs(ndcgAt(ranking, qrels, 10) - actual / ideal) < 1e-12);
    assert.ok(Math.abs(ndcgAt(ranking, qrels, 2) - (1 + 3 / Math.log2(3)) / (3 + 2 / Math.log2(3))) < 1e-12);
    assert.equal(ndcgAt(['d1', 'd2', 'd3'], qrels, 10), 1);
    assert.equal(ndcgAt(['x'], judgments([['d4', 0]]), 10), 0, 'no relevant document: 0, not NaN');
    assert.equal(dcg([]), 0);
  });

  it('compute recall and reciprocal rank with gain 0 as not relevant', () => {
    const qrels = judgments([
      ['a', 1],
      ['b', 2],
      ['c', 0],
    ]);
    assert.equal(recallAt(['c', 'x', 'b'], qrels, 100), 0.5);
    assert.equal(recallAt(['c', 'x', 'b'], qrels, 2), 0);
    assert.equal(reciprocalRankAt(['c', 'x', 'b'], qrels, 10), 1 / 3);
    assert.equal(reciprocalRankAt(['c', 'x', 'b'], qrels, 2), 0);
  });
});

describe('vectorsync eval on a tiny hand-built collection (real Postgres, through the sync path)', () => {
  it('loads it, searches it and scores the rankings', async () => {
    const dir = await writeDataset(
      animals,
      [
        { id: 'q1', text: 'penguins antarctica' },
        { id: 'q2', text: 'desert camels' },
        { id: 'q3', text: 'unjudged query' },
      ],
      'q1\td1\t2\nq1\td4\t1\nq1\td3\t0\nq2\td3\t1\nq3\td2\t0\n',
    );
    assert.equal(missingDataset(join(dir, 'nope')), `dataset directory ${join(dir, 'nope')} does not exist`);

    const dataset = await loadRelevanceDataset(dir, 'tiny');
    assert.equal(dataset.documents.length, 4);
    const testDb = await createTestDatabase('relevance_eval');
    try {
      const result = await runEvaluation(dataset, {
        db: testDb.db,
        embedder: { provider: 'hash', dimensions: 64, cache: 'memory' },
        modes: ['keyword'],
      });
      // q3 has no relevant judgment, so two queries count. BM25 ranks d1 ("penguins" twice with
      // its title, "antarctica") first and d4 second for q1 (nDCG 1), d3 first for q2 (nDCG 1).
      assert.equal(result.queries, 2);
      const keyword = result.results[0]!;
      assert.equal(keyword.ndcg10, 1);
      assert.equal(keyword.mrr10, 1);
      assert.equal(keyword.recall100, 1);
      const indexed = await testDb.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM vectorsync_eval.eval_tiny',
      );
      assert.equal(indexed.rows[0]!.n, 4);
      const done = await testDb.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM vectorsync.outbox WHERE collection = 'eval_tiny' AND status = 'done'`,
      );
      assert.equal(done.rows[0]!.n, 4, 'loaded through the outbox');
    } finally {
      await testDb.drop();
    }
  });
});

describe('vectorsync eval on a collection with documents it cannot index', () => {
  it('skips a document with an empty title and text, counts it, and scores the judged queries', async () => {
    // Cranfield's documents 471 and 995 are like d5 and d6: nothing to embed or match.
    const dir = await writeDataset(
      [...animals, { id: 'd5', title: '', text: '' }, { id: 'd6', title: '  ', text: ' \n ' }],
      [
        { id: 'q1', text: 'penguins antarctica' },
        { id: 'q2', text: 'desert camels' },
      ],
      'q1\td1\t2\nq1\td4\t1\nq1\td5\t0\nq2\td3\t1\n',
    );
    const dataset = await loadRelevanceDataset(dir, 'with_empty');
    assert.equal(dataset.documents.length, 6);
    const testDb = await createTestDatabase('relevance_eval_empty');
    try {
      const result = await runEvaluation(dataset, {
        db: testDb.db,
        embedder: { provider: 'hash', dimensions: 64, cache: 'memory' },
        modes: ['keyword', 'semantic'],
      });
      assert.equal(result.documents, 6);
      assert.equal(result.skippedDocuments, 2);
      assert.deepEqual(result.skippedDocumentIds, ['d5', 'd6']);
      assert.equal(result.queries, 2);
      const keyword = result.results.find((row) => row.mode === 'keyword')!;
      assert.equal(keyword.queries, 2);
      assert.equal(keyword.ndcg10, 1);
      assert.equal(keyword.recall100, 1);
      assert.ok(result.results.find((row) => row.mode === 'semantic')!.recall100 > 0, 'semantic scored too');
      const loaded = await testDb.db.query<{ id: string }>(
        'SELECT id FROM vectorsync_eval.eval_with_empty ORDER BY id',
      );
      assert.deepEqual(
        loaded.rows.map((row) => row.id),
        ['d1', 'd2', 'd3', 'd4'],
      );
      const open = await testDb.db.query<{ status: string; n: number }>(
        `SELECT status, count(*)::int AS n FROM vectorsync.outbox WHERE collection = 'eval_with_empty' GROUP BY status`,
      );
      assert.deepEqual(open.rows, [{ status: 'done', n: 4 }], 'no failed or pending event left behind');
    } finally {
      await testDb.drop();
    }
  });

  it('still fails when a document fails to index for another reason, naming it and the error code', async () => {
    const server = new FakeEmbeddingServer({ dimensions: 16 });
    const baseUrl = await server.start();
    // The embedding API refuses d3's input, permanently (a 400, not an outage).
    server.rejectInputsContaining('humps');
    const dir = await writeDataset(
      [...animals, { id: 'd5', title: '', text: '' }],
      [{ id: 'q1', text: 'penguins antarctica' }],
      'q1\td1\t1\n',
    );
    const dataset = await loadRelevanceDataset(dir, 'rejected');
    const testDb = await createTestDatabase('relevance_eval_rejected');
    try {
      await assert.rejects(
        runEvaluation(dataset, {
          db: testDb.db,
          embedder: {
            provider: 'openai',
            model: 'fake-v1',
            dimensions: 16,
            baseUrl,
            apiKeyEnv: 'NO_KEY',
            requestDimensions: false,
            batchSize: 96,
            timeoutMs: 30_000,
            maxRetries: 2,
            maxInputChars: 8000,
            cache: 'memory',
            limits: { concurrency: 4, maxWaitMs: 2000 },
            tokenizer: 'cl100k_base',
          },
          modes: ['keyword'],
          sync: { maxAttempts: 1 },
        }),
        (error: Error) => {
          // Every document embedded in the same request as d3 fails with it; d3 is always among them.
          assert.match(error.message, /^\d+ document\(s\) failed to index: /);
          assert.match(error.message, /\bd3 \(EMBEDDER_FAILED: [^)]*HTTP 400/);
          assert.doesNotMatch(error.message, /\bd5\b/, 'the empty document was skipped, not failed');
          assert.match(error.message, /vectorsync events list --status failed -c eval_rejected/);
          return true;
        },
      );
    } finally {
      await testDb.drop();
      await server.stop();
    }
  });
});

describe('vectorsync eval on a shared test collection', () => {
  const dir = process.env.VECTORSYNC_DATASETS
    ? join(process.env.VECTORSYNC_DATASETS, 'scifact')
    : '../shared/datasets/scifact';
  const problem = missingDataset(dir);
  it('reproduces the published BM25 nDCG@10 on SciFact within 0.01', {
    skip: problem ? `skipped: ${problem}` : false,
  }, async () => {
    const testDb = await createTestDatabase('scifact');
    try {
      const dataset = await loadRelevanceDataset(dir, 'scifact');
      const result = await runEvaluation(dataset, {
        db: testDb.db,
        embedder: { provider: 'hash', dimensions: 64, cache: 'memory' },
        analyzer: { stemming: false },
        search: { bm25: { k1: 0.9, b: 0.4 } },
        modes: ['keyword'],
      });
      // The dataset README: plain BM25 (k1=0.9, b=0.4, no stemming) gives nDCG@10 = 0.666 on dev.
      assert.ok(Math.abs(result.results[0]!.ndcg10 - 0.666) <= 0.01, `nDCG@10 ${result.results[0]!.ndcg10}`);
    } finally {
      await testDb.drop();
    }
  });
});
