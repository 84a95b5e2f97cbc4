import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { EmbedderConfig } from '../../config/config-schema.js';
import type { Database } from '../../db/database.js';
import { migrate } from '../../db/migrator.js';
import { PgDatabase } from '../../db/pg-database.js';
import { PgliteDatabase } from '../../db/pglite-database.js';
import { loadRelevanceDataset, missingDataset } from '../../eval/relevance-dataset.js';
import { type EvaluationOptions, runEvaluation } from '../../eval/run-evaluation.js';
import type { SearchMode } from '../../search/search-service.js';
import {
  createCliLogger,
  embedderProgressBars,
  type GlobalOptions,
  printJson,
  printTable,
} from '../cli-context.js';
import { numberArgument } from '../number-argument.js';
import { ProgressBar } from '../progress-bar.js';

interface EvalOptions {
  dataset: string;
  embedder: string;
  modes: string;
  queries?: number;
  k1?: number;
  b?: number;
  stemming: boolean;
  stopwords: string;
  fusion?: string;
  normalization?: string;
  rrfK?: number;
  reuse?: boolean;
  json?: boolean;
  output?: string;
}

export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description(
      'load a retrieval test collection through the sync path and report nDCG@10, recall@100, MRR@10 and latency per mode',
    )
    .requiredOption('--dataset <dir>', 'folder with corpus.jsonl.gz, queries.jsonl.gz, qrels.tsv.gz')
    .option(
      '--embedder <name>',
      'wink (semantic, offline), hash, or openai:<model>:<dimensions> (OpenAI-compatible API at $OPENAI_BASE_URL)',
      'wink',
    )
    .option('--modes <list>', 'comma-separated modes', 'keyword,semantic,hybrid')
    .option(
      '--queries <n>',
      'evaluate only the first n judged queries',
      numberArgument({ integer: true, min: 1 }),
    )
    .option('--k1 <k1>', 'BM25 k1 (default 1.2)', numberArgument({ min: 0 }))
    .option('--b <b>', 'BM25 b (default 0.75)', numberArgument({ min: 0, max: 1 }))
    .option('--no-stemming', 'no Snowball stemming')
    .option('--stopwords <set>', 'english or none', 'english')
    .option('--fusion <kind>', 'hybrid fusion: rrf or weighted')
    .option('--normalization <kind>', 'weighted fusion normalisation: minmax or zscore')
    .option('--rrf-k <k>', 'RRF constant (default 60)', numberArgument({ min: 1 }))
    .option('--reuse', 're-use the loaded collection when its settings are unchanged')
    .option('--json', 'print JSON')
    .option('--output <file>', 'also write the JSON result to this file')
    .action(async (commandOptions: EvalOptions) => {
      const problem = missingDataset(commandOptions.dataset);
      if (problem) {
        process.stdout.write(`eval skipped: ${problem}\n`);
        return;
      }
      const options = program.opts<GlobalOptions>();
      const logger = createCliLogger(options.logLevel ?? process.env.LOG_LEVEL ?? 'warn');
      const databaseUrl = process.env.DATABASE_URL;
      const db: Database = databaseUrl
        ? PgDatabase.fromUrl(databaseUrl, { max: 8, logger })
        : await PgliteDatabase.create();
      try {
        await migrate(db, logger);
        const dataset = await loadRelevanceDataset(commandOptions.dataset);
        process.stderr.write(
          `dataset ${dataset.name}: ${dataset.documents.length} documents, ${dataset.queries.length} queries, on ${databaseUrl ? 'DATABASE_URL' : 'embedded Postgres (PGlite)'}\n`,
        );
        const bars = new Map<string, ProgressBar>();
        const result = await runEvaluation(dataset, {
          db,
          ...(databaseUrl ? { databaseUrl } : {}),
          logger,
          embedder: parseEmbedder(commandOptions.embedder),
          analyzer: {
            stemming: commandOptions.stemming,
            stopwords: commandOptions.stopwords === 'none' ? 'none' : 'english',
          },
          search: searchSettings(commandOptions),
          modes: commandOptions.modes.split(',').map((mode) => mode.trim()) as SearchMode[],
          ...(commandOptions.queries ? { queryLimit: commandOptions.queries } : {}),
          reuse: commandOptions.reuse ?? false,
          onEmbedderProgress: embedderProgressBars(),
          onProgress: (phase, done, total) => {
            let bar = bars.get(phase);
            if (!bar) {
              bar = new ProgressBar(phase);
              bars.set(phase, bar);
            }
            bar.update(done, total);
            if (done >= total) bar.finish(`${phase}: ${total} done`);
          },
        });
        if (commandOptions.output)
          await writeFile(commandOptions.output, `${JSON.stringify(result, null, 2)}\n`);
        if (commandOptions.json) return printJson(result);
        const skipped =
          result.skippedDocuments > 0
            ? ` (${result.skippedDocuments} skipped: empty title and text, ids ${result.skippedDocumentIds.slice(0, 10).join(', ')}${result.skippedDocuments > 10 ? ', …' : ''})`
            : '';
        process.stdout.write(
          `\n${result.dataset}: ${result.documents} documents${skipped}, ${result.queries} judged queries, embedder ${result.embedder}, loaded in ${result.loadSeconds.toFixed(1)} s\n`,
        );
        printTable(
          result.results.map((row) => ({
            mode: row.mode,
            'nDCG@10': row.ndcg10.toFixed(4),
            'recall@100': row.recall100.toFixed(4),
            'MRR@10': row.mrr10.toFixed(4),
            'p50 ms': row.latencyMs.p50.toFixed(1),
            'p95 ms': row.latencyMs.p95.toFixed(1),
          })),
        );
      } finally {
        await db.close();
      }
    });
}

export function parseEmbedder(spec: string): EmbedderConfig {
  if (spec === 'wink') return { provider: 'wink', sifA: 1e-3, removeCommonComponent: true, cache: 'memory' };
  if (spec === 'wink-nopc')
    return { provider: 'wink', sifA: 1e-3, removeCommonComponent: false, cache: 'memory' };
  if (spec === 'hash') return { provider: 'hash', dimensions: 256, cache: 'memory' };
  const openai = /^openai:([^:]+):(\d+)$/.exec(spec);
  if (openai) {
    return {
      provider: 'openai',
      model: openai[1]!,
      dimensions: Number(openai[2]),
      baseUrl: process.env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1',
      apiKeyEnv: 'OPENAI_API_KEY',
      requestDimensions: false,
      batchSize: 96,
      timeoutMs: 30_000,
      maxRetries: 5,
      maxInputChars: 8000,
      cache: 'postgres',
      limits: { concurrency: 4, maxWaitMs: 2000 },
      tokenizer: 'cl100k_base',
    };
  }
  throw new Error(`--embedder must be wink, wink-nopc, hash or openai:<model>:<dimensions> (got "${spec}")`);
}

function searchSettings(options: EvalOptions): EvaluationOptions['search'] {
  const settings: NonNullable<EvaluationOptions['search']> = {};
  if (options.k1 !== undefined || options.b !== undefined)
    settings.bm25 = { k1: options.k1 ?? 1.2, b: options.b ?? 0.75 };
  if (options.fusion === 'rrf' || options.fusion === 'weighted') settings.fusion = options.fusion;
  if (options.normalization === 'minmax' || options.normalization === 'zscore')
    settings.normalization = options.normalization;
  if (options.rrfK !== undefined) settings.rrfK = options.rrfK;
  return settings;
}
