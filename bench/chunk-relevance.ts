import { splitText } from '../src/chunking/text-splitter.js';
import { loadRelevanceDataset, missingDataset } from '../src/eval/relevance-dataset.js';
import { mean, ndcgAt } from '../src/eval/relevance-metrics.js';
import { Analyzer } from '../src/pipeline/analyzer.js';

/**
 * Which BM25 a chunked collection should use, measured on judged test collections: BM25 over
 * whole documents against BM25 over chunks with a document scored by its best chunk (max-sim,
 * as semantic search over chunks does). Same analyzer, k1 = 1.2, b = 0.75, chunks of `size`
 * characters by the recursive splitter; nDCG@10 over each collection's dev queries.
 */
export interface ChunkRelevanceRow extends Record<string, string | number> {
  collection: string;
  documents: number;
  'chunks per document': string;
  queries: number;
  'document BM25 nDCG@10': string;
  'best-chunk BM25 nDCG@10': string;
}

interface Posting {
  id: number;
  tf: number;
}

/** An inverted index with Okapi BM25 (the same formula as the pgvector store's). */
class Bm25Index {
  private readonly postings = new Map<string, Posting[]>();
  private readonly lengths: number[] = [];

  constructor(
    private readonly analyzer: Analyzer,
    texts: readonly string[],
  ) {
    texts.forEach((text, id) => {
      const { frequencies, length } = analyzer.termFrequencies(text);
      this.lengths.push(length);
      for (const [term, tf] of frequencies) {
        const list = this.postings.get(term) ?? [];
        list.push({ id, tf });
        this.postings.set(term, list);
      }
    });
  }

  scores(query: string, k1 = 1.2, b = 0.75): Map<number, number> {
    const n = this.lengths.length;
    const avgdl = this.lengths.reduce((sum, length) => sum + length, 0) / Math.max(1, n);
    const scores = new Map<number, number>();
    for (const [term, qtf] of this.analyzer.termFrequencies(query).frequencies) {
      const list = this.postings.get(term);
      if (!list) continue;
      const idf = Math.log(1 + (n - list.length + 0.5) / (list.length + 0.5));
      for (const { id, tf } of list) {
        const norm = tf + k1 * (1 - b + (b * this.lengths[id]!) / avgdl);
        scores.set(id, (scores.get(id) ?? 0) + (qtf * idf * tf * (k1 + 1)) / norm);
      }
    }
    return scores;
  }
}

export async function chunkRelevance(
  datasetsDir: string,
  collections: readonly string[],
  size: number,
): Promise<{ rows: ChunkRelevanceRow[]; skipped: string[] }> {
  const rows: ChunkRelevanceRow[] = [];
  const skipped: string[] = [];
  const analyzer = new Analyzer();
  for (const name of collections) {
    const dir = `${datasetsDir}/${name}`;
    const missing = missingDataset(dir);
    if (missing) {
      skipped.push(`${name}: ${missing}`);
      continue;
    }
    const dataset = await loadRelevanceDataset(dir, name);
    const texts = dataset.documents.map((document) => `${document.title}\n\n${document.text}`);
    const whole = new Bm25Index(analyzer, texts);
    const chunkOwner: number[] = [];
    const chunkTexts: string[] = [];
    texts.forEach((text, owner) => {
      for (const chunk of splitText(text, { splitter: 'recursive', size, overlap: 0 })) {
        chunkOwner.push(owner);
        chunkTexts.push(chunk.text);
      }
    });
    const chunked = new Bm25Index(analyzer, chunkTexts);
    const judged = dataset.queries.filter((query) => dataset.judgments.has(query.id));
    const documentNdcg: number[] = [];
    const chunkNdcg: number[] = [];
    for (const query of judged) {
      const judgments = dataset.judgments.get(query.id)!;
      const rank = (scores: Map<number, number>) =>
        [...scores]
          .sort((a, b) => b[1] - a[1] || a[0] - b[0])
          .slice(0, 10)
          .map(([id]) => dataset.documents[id]!.id);
      documentNdcg.push(ndcgAt(rank(whole.scores(query.text)), judgments, 10));
      const best = new Map<number, number>();
      for (const [chunk, score] of chunked.scores(query.text)) {
        const owner = chunkOwner[chunk]!;
        if (score > (best.get(owner) ?? Number.NEGATIVE_INFINITY)) best.set(owner, score);
      }
      chunkNdcg.push(ndcgAt(rank(best), judgments, 10));
    }
    rows.push({
      collection: name,
      documents: texts.length,
      'chunks per document': (chunkTexts.length / texts.length).toFixed(1),
      queries: judged.length,
      'document BM25 nDCG@10': mean(documentNdcg).toFixed(4),
      'best-chunk BM25 nDCG@10': mean(chunkNdcg).toFixed(4),
    });
  }
  return { rows, skipped };
}
