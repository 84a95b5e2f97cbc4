import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createChunker } from '../src/chunking/chunker.js';
import { markdownSections, splitText } from '../src/chunking/text-splitter.js';
import { chunkingSchema } from '../src/config/config-schema.js';

/** A deterministic pseudo-random text: words, sentences, paragraphs, and some very long words. */
function randomText(seed: number, words: number): string {
  let state = seed;
  const next = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
  const parts: string[] = [];
  for (let i = 0; i < words; i++) {
    const length = next() < 0.01 ? 200 + Math.floor(next() * 400) : 1 + Math.floor(next() * 10);
    parts.push(
      'abcdefghijklmnopqrstuvwxyzé雪'
        .slice(0, 1 + Math.floor(next() * 28))
        .repeat(Math.ceil(length / 10))
        .slice(0, length),
    );
    const r = next();
    parts.push(r < 0.05 ? '.\n\n' : r < 0.1 ? '. ' : r < 0.12 ? '\n' : r < 0.15 ? ', ' : ' ');
  }
  return parts.join('');
}

function assertCovers(
  text: string,
  chunks: ReturnType<typeof splitText>,
  size: number,
  measure = (t: string) => t.length,
) {
  let covered = 0;
  for (const chunk of chunks) {
    assert.equal(chunk.text, text.slice(chunk.start, chunk.end), 'a chunk is a slice of the text');
    assert.ok(measure(chunk.text) <= size, `a chunk of ${measure(chunk.text)} exceeds ${size}`);
    assert.ok(
      chunk.start <= covered || text.slice(covered, chunk.start).trim() === '',
      `text lost before ${chunk.start}`,
    );
    assert.ok(chunk.start >= (chunks[chunks.indexOf(chunk) - 1]?.start ?? -1), 'chunks in order');
    covered = Math.max(covered, chunk.end);
  }
  assert.equal(text.slice(covered).trim(), '', 'text lost at the end');
}

describe('text splitter', () => {
  it('covers every character, in order, each chunk within size (randomized)', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const text = randomText(seed, 50 + seed * 20);
      for (const splitter of ['recursive', 'sentences', 'markdown'] as const) {
        const size = 40 + (seed % 7) * 30;
        const overlap = seed % 3 === 0 ? Math.floor(size / 4) : 0;
        const chunks = splitText(text, { splitter, size, overlap });
        assertCovers(text, chunks, size);
        if (overlap === 0)
          for (let i = 1; i < chunks.length; i++)
            assert.ok(
              chunks[i]!.start >= chunks[i - 1]!.end,
              `no overlap asked, chunks ${i - 1} and ${i} overlap`,
            );
        else
          for (let i = 1; i < chunks.length; i++)
            assert.ok(chunks[i - 1]!.end - chunks[i]!.start <= overlap, 'an overlap within the setting');
      }
    }
  });

  it('prefers paragraph, then sentence boundaries', () => {
    const text = 'First paragraph, one sentence.\n\nSecond paragraph. It has two sentences.';
    const chunks = splitText(text, { splitter: 'recursive', size: 45, overlap: 0 });
    assert.deepEqual(
      chunks.map((chunk) => chunk.text),
      ['First paragraph, one sentence.', 'Second paragraph. It has two sentences.'],
    );
    const sentences = splitText('One. Two is here. Three!', { splitter: 'sentences', size: 14, overlap: 0 });
    assert.deepEqual(
      sentences.map((chunk) => chunk.text),
      ['One.', 'Two is here.', 'Three!'],
    );
  });

  it('markdown keeps headings with their sections and gives later chunks their heading path', () => {
    const text = [
      '# Guide',
      'Intro text.',
      '## Install',
      'Run the installer. '.repeat(6).trim(),
      '```',
      '# not a heading, inside code',
      '```',
      '## Use',
      'Search things.',
    ].join('\n');
    assert.deepEqual(
      markdownSections(text).map((section) => section.path),
      ['Guide', 'Guide > Install', 'Guide > Use'],
    );
    const chunks = splitText(text, { splitter: 'markdown', size: 60, overlap: 0 });
    const install = chunks.filter(
      (chunk) => chunk.start >= text.indexOf('## Install') && chunk.start < text.indexOf('## Use'),
    );
    assert.ok(install[0]!.text.startsWith('## Install'), 'a section starts with its heading');
    assert.equal(install[0]!.context, 'Guide');
    assert.ok(install.length > 1 && install.slice(1).every((chunk) => chunk.context === 'Guide > Install'));
    assert.ok(chunks.some((chunk) => chunk.text.startsWith('## Use')));
  });

  it('counts tokens with a real tokenizer, and refuses nothing a text can spell', async () => {
    const chunker = await createChunker(
      chunkingSchema.parse({ unit: 'tokens', encoding: 'cl100k_base', size: 32, overlap: 4 }),
    );
    const { encode } = await import('gpt-tokenizer/encoding/cl100k_base');
    const text = `${randomText(7, 400)} <|endoftext|> the end`;
    const chunks = chunker.split(text);
    assertCovers(text, chunks, 32, (t) => encode(t, { disallowedSpecial: new Set() }).length);
    assert.ok(chunks.length > 5);
  });

  it('a document over maxChunks fails whole, with its code', async () => {
    const chunker = await createChunker(chunkingSchema.parse({ size: 16, maxChunks: 3 }));
    assert.throws(() => chunker.split('word '.repeat(100)), { code: 'CHUNK_LIMIT_EXCEEDED' });
  });
});
