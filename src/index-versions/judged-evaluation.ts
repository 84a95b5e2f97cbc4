import { existsSync } from 'node:fs';
import { ErrorCode, VectorsyncError } from '../errors.js';
import { datasetFiles, readJudgments, readQueries } from '../eval/relevance-dataset.js';
import { mean, ndcgAt } from '../eval/relevance-metrics.js';
import type { IndexTarget, VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { type SearchMode, SearchService } from '../search/search-service.js';
import { throwIfAborted } from './fill-index.js';

/** Queries judged against a collection's own rows: the qrels' document ids are source ids. */
export interface JudgedQueries {
  name: string;
  queries: Array<{ id: string; text: string; judgments: Map<string, number> }>;
}

export interface VersionEvaluation {
  dataset: string;
  tenant: string;
  queries: number;
  /** Mean nDCG@10 of each version, per mode. */
  modes: Array<{ mode: SearchMode; from: number; to: number }>;
}

/**
 * Reads a judged query set in the shared dataset format (queries.jsonl.gz and qrels.tsv.gz; a
 * corpus file is not needed: the documents are the collection's). Queries without a relevant
 * judgment are left out: they cannot tell two versions apart.
 */
export async function loadJudgedQueries(dir: string): Promise<JudgedQueries> {
  const files = datasetFiles(dir);
  const missing = [files.queries, files.qrels].filter((file) => !existsSync(file));
  if (missing.length > 0) {
    throw new VectorsyncError(
      ErrorCode.NotFound,
      `--eval ${dir}: a judged query set needs queries.jsonl.gz and qrels.tsv.gz; missing ${missing.join(', ')}`,
      { details: { dataset: dir, missing } },
    );
  }
  const judgments = await readJudgments(files.qrels);
  const queries: JudgedQueries['queries'] = [];
  for (const query of await readQueries(files.queries)) {
    const judged = judgments.get(query.id);
    if (judged && [...judged.values()].some((gain) => gain > 0))
      queries.push({ ...query, judgments: judged });
  }
  if (queries.length === 0) {
    throw new VectorsyncError(ErrorCode.InvalidRequest, `--eval ${dir}: no query has a relevant judgment`, {
      details: { dataset: dir },
    });
  }
  return { name: dir.replace(/\/+$/, '').split('/').pop() ?? dir, queries };
}

/** nDCG@10 of the old and the new version on the same judged queries, semantic and hybrid. */
export async function evaluateVersions(
  runtime: VectorsyncRuntime,
  options: {
    collection: string;
    tenant: string;
    from: IndexTarget;
    to: IndexTarget;
    judged: JudgedQueries;
    signal?: AbortSignal;
    onProgress?: (done: number, total: number) => void;
  },
): Promise<VersionEvaluation> {
  const search = new SearchService(runtime);
  const modes: SearchMode[] = ['semantic', 'hybrid'];
  const total = modes.length * options.judged.queries.length;
  let done = 0;
  const results: VersionEvaluation['modes'] = [];
  for (const mode of modes) {
    const from: number[] = [];
    const to: number[] = [];
    for (const query of options.judged.queries) {
      throwIfAborted(options.signal);
      const request = {
        collection: options.collection,
        tenant: options.tenant,
        query: query.text,
        mode,
        k: 10,
      };
      const [before, after] = await Promise.all([
        search.search(request, { target: options.from }),
        search.search(request, { target: options.to }),
      ]);
      from.push(
        ndcgAt(
          before.hits.map((hit) => hit.id),
          query.judgments,
          10,
        ),
      );
      to.push(
        ndcgAt(
          after.hits.map((hit) => hit.id),
          query.judgments,
          10,
        ),
      );
      options.onProgress?.(++done, total);
    }
    results.push({ mode, from: mean(from), to: mean(to) });
  }
  return {
    dataset: options.judged.name,
    tenant: options.tenant,
    queries: options.judged.queries.length,
    modes: results,
  };
}
