import stem from 'wink-porter2-stemmer';

export interface AnalyzerConfig {
  /** Snowball English (Porter2) stemming. */
  stemming: boolean;
  /** `english` (Lucene's default English stop set), `none`, or an explicit list. */
  stopwords: 'english' | 'none' | readonly string[];
  /** Strip diacritics after Unicode compatibility decomposition (café → cafe). */
  foldAccents: boolean;
  minTokenLength: number;
  /**
   * A longer token is split into pieces of at most this many characters (Unicode code points),
   * each piece a term of its own: Elasticsearch's standard tokenizer (`max_token_length`) and
   * Lucene's StandardAnalyzer (default 255) do the same. Default DEFAULT_MAX_TOKEN_LENGTH.
   */
  maxTokenLength?: number;
}

/** Lucene's StandardAnalyzer default. */
export const DEFAULT_MAX_TOKEN_LENGTH = 255;

/**
 * Tokens longer than this are never stemmed. Porter2 (wink-porter2-stemmer) runs suffix
 * regular expressions whose cost grows with the square of the token's length (about 2 ms for a
 * 64-letter token, 2 s for 10,000 letters); English words are far shorter (the longest in
 * major dictionaries has 45 letters), so a longer run of letters is an identifier, a hash or
 * garbage, which stemming cannot improve.
 */
export const MAX_STEMMED_LENGTH = 64;

/** Stems remembered per analyzer (a few MB at most); the memo is emptied when it is full. */
const STEM_MEMO_SIZE = 50_000;

export const defaultAnalyzerConfig: AnalyzerConfig = {
  stemming: true,
  stopwords: 'english',
  foldAccents: true,
  minTokenLength: 1,
  maxTokenLength: DEFAULT_MAX_TOKEN_LENGTH,
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
 * letter or a digit (any script), splitting tokens longer than maxTokenLength, stop words,
 * then Snowball English stemming of tokens of at most MAX_STEMMED_LENGTH letters.
 * Its cost is linear in the length of the text, whatever the text.
 */
export class Analyzer {
  private readonly stopwords: ReadonlySet<string>;
  private readonly maxTokenLength: number;
  /** Porter2 costs 10–60 µs per word, and text repeats its words: stemming is a pure function. */
  private readonly stems = new Map<string, string>();

  constructor(readonly config: AnalyzerConfig = defaultAnalyzerConfig) {
    const list =
      config.stopwords === 'english' ? englishStopwords : config.stopwords === 'none' ? [] : config.stopwords;
    this.stopwords = new Set(list.map((word) => this.normalise(word)));
    this.maxTokenLength = config.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH;
    if (!Number.isInteger(this.maxTokenLength) || this.maxTokenLength < 1) {
      throw new RangeError(`maxTokenLength must be a positive integer (got ${this.maxTokenLength})`);
    }
  }

  /** The terms of a text, in order, with repeats. */
  terms(text: string): string[] {
    const words = this.normalise(text).match(/[\p{L}\p{N}]+/gu) ?? [];
    const terms: string[] = [];
    for (const word of words) {
      if (word.length <= this.maxTokenLength) this.addTerm(word, terms);
      else for (const piece of splitEvery(word, this.maxTokenLength)) this.addTerm(piece, terms);
    }
    return terms;
  }

  private addTerm(token: string, terms: string[]): void {
    if (token.length < this.config.minTokenLength || this.stopwords.has(token)) return;
    const stemmable = this.config.stemming && token.length <= MAX_STEMMED_LENGTH && /^[a-z]+$/.test(token);
    terms.push(stemmable ? this.stem(token) : token);
  }

  private stem(token: string): string {
    let stemmed = this.stems.get(token);
    if (stemmed === undefined) {
      stemmed = stem(token);
      if (this.stems.size >= STEM_MEMO_SIZE) this.stems.clear();
      this.stems.set(token, stemmed);
    }
    return stemmed;
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

/**
 * Pieces of at most `max` code points, in order (a character outside the Basic Multilingual
 * Plane is never cut in half). Only called for words longer than `max` UTF-16 units.
 */
function splitEvery(word: string, max: number): string[] {
  const pieces: string[] = [];
  let start = 0;
  let count = 0;
  for (let i = 0; i < word.length; ) {
    if (count === max) {
      pieces.push(word.slice(start, i));
      start = i;
      count = 0;
    }
    i += word.codePointAt(i)! > 0xffff ? 2 : 1;
    count++;
  }
  pieces.push(word.slice(start));
  return pieces;
}
