import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { ErrorCode, VectorsyncError } from '../errors.js';

/**
 * A retrieval test collection in the shared format: corpus.jsonl.gz {id, title, text},
 * queries.jsonl.gz {id, text} and qrels.tsv.gz (query_id, doc_id, gain; gain 0 = judged
 * non-relevant).
 */
export interface RelevanceDataset {
  name: string;
  documents: Array<{ id: string; title: string; text: string }>;
  queries: Array<{ id: string; text: string }>;
  /** query id → doc id → gain */
  judgments: Map<string, Map<string, number>>;
}

/**
 * A document with neither title nor text (after trimming): there is nothing to embed or to
 * match, and the sync path refuses a row whose template fields are all empty
 * (TEMPLATE_FIELD_MISSING). Cranfield has two (ids 471 and 995).
 */
export function isEmptyDocument(document: RelevanceDataset['documents'][number]): boolean {
  return document.title.trim() === '' && document.text.trim() === '';
}

async function* lines(path: string): AsyncGenerator<string> {
  const input = createReadStream(path).pipe(createGunzip());
  const reader = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of reader) if (line.trim() !== '') yield line;
}

export function datasetFiles(dir: string) {
  return {
    corpus: join(dir, 'corpus.jsonl.gz'),
    queries: join(dir, 'queries.jsonl.gz'),
    qrels: join(dir, 'qrels.tsv.gz'),
  };
}

/** The reason a directory is not a usable dataset, or undefined when it is. */
export function missingDataset(dir: string): string | undefined {
  if (!existsSync(dir)) return `dataset directory ${dir} does not exist`;
  const missing = Object.values(datasetFiles(dir)).filter((file) => !existsSync(file));
  return missing.length > 0
    ? `dataset ${dir} lacks ${missing.map((file) => file.split('/').pop()).join(', ')}`
    : undefined;
}

export async function loadRelevanceDataset(
  dir: string,
  name = dir.replace(/\/+$/, '').split('/').pop() ?? 'dataset',
): Promise<RelevanceDataset> {
  const problem = missingDataset(dir);
  if (problem) throw new VectorsyncError(ErrorCode.NotFound, problem, { details: { dataset: dir } });
  const files = datasetFiles(dir);
  const documents: RelevanceDataset['documents'] = [];
  for await (const line of lines(files.corpus)) {
    const row = JSON.parse(line) as { id: unknown; title?: unknown; text?: unknown };
    documents.push({ id: String(row.id), title: String(row.title ?? ''), text: String(row.text ?? '') });
  }
  return {
    name,
    documents,
    queries: await readQueries(files.queries),
    judgments: await readJudgments(files.qrels),
  };
}

/** queries.jsonl.gz: `{"id", "text"}` per line (BEIR's `_id` is read too). */
export async function readQueries(path: string): Promise<RelevanceDataset['queries']> {
  const queries: RelevanceDataset['queries'] = [];
  for await (const line of lines(path)) {
    const row = JSON.parse(line) as { id?: unknown; _id?: unknown; text: unknown };
    queries.push({ id: String(row.id ?? row._id), text: String(row.text) });
  }
  return queries;
}

/**
 * qrels.tsv.gz: query id, document id and gain per line, tab-separated. A line whose gain is not
 * a number (BEIR's `query-id corpus-id score` header) is not a judgment.
 */
export async function readJudgments(path: string): Promise<RelevanceDataset['judgments']> {
  const judgments: RelevanceDataset['judgments'] = new Map();
  for await (const line of lines(path)) {
    const [queryId, docId, gain] = line.split('\t');
    if (queryId === undefined || docId === undefined || gain === undefined) continue;
    const value = Number(gain);
    if (gain.trim() === '' || !Number.isFinite(value)) continue;
    const forQuery = judgments.get(queryId) ?? new Map<string, number>();
    forQuery.set(docId, value);
    judgments.set(queryId, forQuery);
  }
  return judgments;
}
