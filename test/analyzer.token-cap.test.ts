import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import stem from 'wink-porter2-stemmer';
import { analyzerSchema } from '../src/config/config-schema.js';
import { collapseWhitespace, parseTextTemplate } from '../src/config/text-template.js';
import { generateCatalog } from '../src/demo/catalog-generator.js';
import { ErrorCode, isVectorsyncError } from '../src/errors.js';
import { assertAnalyzerMatches, type IndexRecord } from '../src/index-versions/index-catalog.js';
import {
  Analyzer,
  type AnalyzerConfig,
  DEFAULT_MAX_TOKEN_LENGTH,
  defaultAnalyzerConfig,
  englishStopwords,
  MAX_STEMMED_LENGTH,
} from '../src/pipeline/analyzer.js';

/** The analyzer as it was before the token cap: the reference for ordinary text. */
function uncappedTerms(text: string, config: AnalyzerConfig = defaultAnalyzerConfig): string[] {
  const normalise = (value: string) =>
    (config.foldAccents
      ? value.normalize('NFKD').replace(/\p{M}+/gu, '')
      : value.normalize('NFKC')
    ).toLowerCase();
  const list =
    config.stopwords === 'english' ? englishStopwords : config.stopwords === 'none' ? [] : config.stopwords;
  const stopwords = new Set(list.map(normalise));
  const terms: string[] = [];
  for (const word of normalise(text).match(/[\p{L}\p{N}]+/gu) ?? []) {
    if (word.length < config.minTokenLength || stopwords.has(word)) continue;
    terms.push(config.stemming && /^[a-z]+$/.test(word) ? stem(word) : word);
  }
  return terms;
}

describe('analyzer: token length cap', () => {
  const analyzer = new Analyzer();

  it('analyses ordinary text exactly as before (the demo catalog, accents, digits, other scripts)', () => {
    const texts = [...generateCatalog(2000, 5)].map((product) =>
      [product.name, product.product_type, product.color, product.description].join('\n'),
    );
    texts.push(
      'Café crème brûlée, naïve façade: RÉSUMÉ of Zürich’s Straße',
      'pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism',
      'Größe 42 · 3×4 m² — ½ price, 2024-11-30, A4 paper, 東京タワー, Москва, ١٢٣',
      'running runners ran easily; generously organizational characteristically',
    );
    for (const config of [
      defaultAnalyzerConfig,
      { ...defaultAnalyzerConfig, foldAccents: false, stopwords: 'none' as const, minTokenLength: 2 },
      { ...defaultAnalyzerConfig, stemming: false },
    ]) {
      const configured = new Analyzer(config);
      for (const text of texts) assert.deepEqual(configured.terms(text), uncappedTerms(text, config), text);
    }
  });

  it('splits a token longer than maxTokenLength into pieces of that length, in order', () => {
    const word = 'abcdefghij'.repeat(60); // 600 letters
    assert.deepEqual(analyzer.terms(`short ${word} end`), [
      'short',
      word.slice(0, 255),
      word.slice(255, 510),
      word.slice(510),
      'end',
    ]);
    const small = new Analyzer({ ...defaultAnalyzerConfig, maxTokenLength: 4, stemming: false });
    assert.deepEqual(small.terms('abcdefghij 12345'), ['abcd', 'efgh', 'ij', '1234', '5']);
    // Each piece is a token: stop words and the minimum length apply to it.
    const stopping = new Analyzer({ ...defaultAnalyzerConfig, maxTokenLength: 3, minTokenLength: 2 });
    // 'cat' | 'the' (a stop word) | 'x' (shorter than minTokenLength)
    assert.deepEqual(stopping.terms('catthex'), ['cat']);
  });

  it('counts characters outside the Basic Multilingual Plane as one and never cuts them in half', () => {
    const word = '\u{20000}'.repeat(10); // a CJK ideograph of Extension B: one letter, two UTF-16 units
    const pieces = new Analyzer({ ...defaultAnalyzerConfig, maxTokenLength: 4 }).terms(word);
    assert.deepEqual(
      pieces.map((piece) => [...piece].length),
      [4, 4, 2],
    );
    assert.equal(pieces.join(''), word);
    for (const piece of pieces) assert.ok([...piece].every((char) => char === '\u{20000}'));
  });

  it(`stems tokens of up to ${MAX_STEMMED_LENGTH} letters and leaves longer ones as they are`, () => {
    const stemmable = `${'a'.repeat(MAX_STEMMED_LENGTH - 3)}ing`;
    const tooLong = `${'a'.repeat(MAX_STEMMED_LENGTH - 2)}ing`;
    assert.deepEqual(analyzer.terms(`${stemmable} ${tooLong}`), [stem(stemmable), tooLong]);
    assert.notEqual(stem(stemmable), stemmable);
  });

  it('analyses a 1 MB single-word text and a 40,000-letter word into capped, unstemmed pieces', () => {
    const megabyte = 'a'.repeat(1_000_000);
    const terms = analyzer.terms(megabyte);
    assert.equal(terms.length, Math.ceil(1_000_000 / DEFAULT_MAX_TOKEN_LENGTH));
    assert.ok(terms.slice(0, -1).every((term) => term === 'a'.repeat(DEFAULT_MAX_TOKEN_LENGTH)));
    assert.equal(terms.at(-1), 'a'.repeat(1_000_000 % DEFAULT_MAX_TOKEN_LENGTH));
    const { frequencies, length } = analyzer.termFrequencies(megabyte);
    assert.equal(length, terms.length);
    assert.equal(frequencies.size, 2);

    const letters = 'abcdefghijklmnopqrstuvwxyz';
    const word = Array.from({ length: 40_000 }, (_, i) => letters[(i * 7) % 26]).join('');
    const pieces = analyzer.terms(word);
    assert.equal(pieces.length, Math.ceil(40_000 / DEFAULT_MAX_TOKEN_LENGTH));
    assert.equal(pieces.join(''), word);
  });

  it('turns a 4,096-letter query into at most ceil(4096 / maxTokenLength) terms', () => {
    const query = 'q'.repeat(4096);
    for (const maxTokenLength of [DEFAULT_MAX_TOKEN_LENGTH, 100, 16]) {
      const terms = new Analyzer({ ...defaultAnalyzerConfig, maxTokenLength }).terms(query);
      assert.equal(terms.length, Math.ceil(4096 / maxTokenLength));
      assert.ok(terms.every((term) => term.length <= maxTokenLength));
    }
  });
});

describe('analyzer settings: maxTokenLength', () => {
  it('defaults to 255, accepts 1 to 256 and at least minTokenLength, and rejects the rest by name', () => {
    assert.equal(analyzerSchema.parse({}).maxTokenLength, 255);
    assert.equal(analyzerSchema.parse({ maxTokenLength: 256 }).maxTokenLength, 256);
    for (const bad of [
      { maxTokenLength: 0 },
      { maxTokenLength: 257 },
      { maxTokenLength: 4, minTokenLength: 5 },
    ]) {
      const result = analyzerSchema.safeParse(bad);
      assert.equal(result.success, false, JSON.stringify(bad));
      assert.ok(result.error!.issues.some((issue) => issue.path.includes('maxTokenLength')));
    }
  });

  const record = (analyzer: unknown): IndexRecord => ({
    id: 1,
    collection: 'products',
    store: 'main',
    storeKind: 'pgvector',
    location: 'products_v1',
    embedderModel: 'hash-v1',
    dimensions: 64,
    embedderConfig: null,
    params: { analyzer },
    state: 'active',
    createdAt: new Date(),
    activatedAt: new Date(),
  });

  it('matches an index recorded before the setting existed, and in any key order (jsonb reorders keys)', () => {
    const configured = analyzerSchema.parse({});
    assertAnalyzerMatches(
      record({ minTokenLength: 1, foldAccents: true, stopwords: 'english', stemming: true }),
      configured,
    );
    assertAnalyzerMatches(
      record({
        maxTokenLength: 255,
        minTokenLength: 1,
        stemming: true,
        stopwords: 'english',
        foldAccents: true,
      }),
      configured,
    );
  });

  it('refuses an index analysed with another maxTokenLength', () => {
    assert.throws(
      () =>
        assertAnalyzerMatches(
          record({ ...analyzerSchema.parse({}), maxTokenLength: 100 }),
          analyzerSchema.parse({}),
        ),
      (error) => isVectorsyncError(error, ErrorCode.AnalyzerMismatch),
    );
  });
});

describe('text template: whitespace', () => {
  it('collapses whitespace exactly like /\\s+/ → " " and trim, for every BMP code unit', () => {
    let text = '';
    for (let code = 0; code < 0x10000; code++)
      text += `${String.fromCharCode(code)}x${String.fromCharCode(code)}`;
    assert.equal(collapseWhitespace(text), text.replace(/\s+/g, ' ').trim());
    assert.equal(parseTextTemplate('{{a}}.\n\t {{b}}').render({ a: '  x ', b: null }), 'x .');
  });

  it('renders a 1 MB value of short words and spaces the same way', () => {
    const value = 'é ab\u00a0'.repeat(200_000);
    assert.equal(parseTextTemplate('{{v}}').render({ v: value }), value.replace(/\s+/g, ' ').trim());
  });
});
