import { Analyzer, type AnalyzerConfig } from '../../src/pipeline/analyzer.js';

/**
 * An independent, textbook Okapi BM25 over an in-memory corpus, to check the SQL against.
 * idf = ln(1 + (N − df + 0.5)/(df + 0.5)); score = Σ qtf · idf · tf(k1+1)/(tf + k1(1 − b + b·dl/avgdl)).
 */
export function referenceBm25(
  documents: ReadonlyArray<{ id: string; text: string }>,
  query: string,
  options: { k1: number; b: number; analyzer?: AnalyzerConfig },
): Array<{ id: string; score: number }> {
  const analyzer = new Analyzer(options.analyzer);
  const docs = documents.map((document) => {
    const terms = analyzer.terms(document.text);
    const tf = new Map<string, number>();
    for (const term of terms) tf.set(term, (tf.get(term) ?? 0) + 1);
    return { id: document.id, tf, length: terms.length };
  });
  const n = docs.length;
  const avgdl = docs.reduce((sum, doc) => sum + doc.length, 0) / n;
  const queryTerms = new Map<string, number>();
  for (const term of analyzer.terms(query)) queryTerms.set(term, (queryTerms.get(term) ?? 0) + 1);
  const scored: Array<{ id: string; score: number }> = [];
  for (const doc of docs) {
    let score = 0;
    let matched = false;
    for (const [term, qtf] of queryTerms) {
      const tf = doc.tf.get(term);
      if (!tf) continue;
      matched = true;
      const df = docs.filter((other) => other.tf.has(term)).length;
      const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
      score +=
        (qtf * idf * (tf * (options.k1 + 1))) /
        (tf + options.k1 * (1 - options.b + (options.b * doc.length) / avgdl));
    }
    if (matched) scored.push({ id: doc.id, score });
  }
  return scored.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1));
}
