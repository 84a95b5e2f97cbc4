import stem from 'wink-porter2-stemmer';

export interface AnalyzerConfig {
  /** Snowball English (Porter2) stemming. */
  stemming: boolean;
  /** `english` (Lucene's default English stop set), `none`, or an explicit list. */
  stopwords: 'english' | 'none' | readonly string[];
  /** Strip diacritics after Unicode compatibility decomposition (café → cafe). */
  foldAccents: boolean;
  minTokenLength: number;
}

export const defaultAnalyzerConfig: AnalyzerConfig = {
  stemming: true,
  stopwords: 'english',
  foldAccents: true,
  minTokenLength: 1,
};

/** Lucene's EnglishAnalyzer stop set (also Elasticsearch's `_english_`). */
export const englishStopwords: readonly string[] = [
  'a',
  'an',
  'and',
  'are',
  'as',
  'at',
  'be',
  'but',
  'by',
  'for',
  'if',
  'in',
  'into',
  'is',
  'it',
  'no',
  'not',
  'of',
  'on',
  'or',
  'such',
  'that',
  'the',
  'their',
  'then',
  'there',
  'these',
  'they',
  'this',
  'to',
  'was',
  'will',
  'with',
];

/**
 * Text → terms, identically for documents and queries: Unicode compatibility
 * normalisation, lowercasing, optional accent folding, splitting on anything that is not a
 * letter or a digit (any script), stop words, then Snowball English stemming.
 */
export class Analyzer {
  private readonly stopwords: ReadonlySet<string>;

  constructor(readonly config: AnalyzerConfig = defaultAnalyzerConfig) {
    const list =
      config.stopwords === 'english' ? englishStopwords : config.stopwords === 'none' ? [] : config.stopwords;
    this.stopwords = new Set(list.map((word) => this.normalise(word)));
  }

  /** The terms of a text, in order, with repeats. */
  terms(text: string): string[] {
    const words = this.normalise(text).match(/[\p{L}\p{N}]+/gu) ?? [];
    const terms: string[] = [];
    for (const word of words) {
      if (word.length < this.config.minTokenLength || this.stopwords.has(word)) continue;
      terms.push(this.config.stemming && /^[a-z]+$/.test(word) ? stem(word) : word);
    }
    return terms;
  }

  /** Term → frequency, and the document length in terms (what BM25 needs). */
  termFrequencies(text: string): { frequencies: Map<string, number>; length: number } {
    const terms = this.terms(text);
    const frequencies = new Map<string, number>();
    for (const term of terms) frequencies.set(term, (frequencies.get(term) ?? 0) + 1);
    return { frequencies, length: terms.length };
  }

  private normalise(text: string): string {
    // Without folding, compose (NFKC) so an accented letter stays one letter of its word.
    const normalised = this.config.foldAccents
      ? text.normalize('NFKD').replace(/\p{M}+/gu, '')
      : text.normalize('NFKC');
    return normalised.toLowerCase();
  }
}
