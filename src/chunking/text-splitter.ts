/**
 * Splits a document's text into chunks of at most `size` units (characters or tokens), as
 * ranges of the text: a chunk's text is always `text.slice(start, end)`, so its offsets point
 * into the document for snippets. Three splitters share one merge step:
 * - recursive: by the first separator that occurs (paragraphs, lines, sentences, words), each
 *   piece still too large split by the next, down to characters;
 * - sentences: whole sentences (Intl.Segmenter), a sentence too large split by words;
 * - markdown: by sections, a heading kept with the start of its section; a chunk of a section
 *   carries the section's heading path as context for its embedding.
 * Adjacent pieces are merged up to `size`, and each chunk after the first of a run repeats
 * whole pieces of the previous one, up to `overlap` units.
 */
export interface TextChunk {
  start: number;
  end: number;
  text: string;
  /** The headings above the chunk (markdown), e.g. "Install > Linux"; embedded with it. */
  context?: string;
}

export interface SplitOptions {
  splitter: 'recursive' | 'markdown' | 'sentences';
  size: number;
  overlap: number;
  separators?: readonly string[];
  /** Length of a text in units (characters by default). */
  measure?: (text: string) => number;
}

export const DEFAULT_SEPARATORS: readonly string[] = ['\n\n', '\n', '. ', '? ', '! ', '; ', ', ', ' '];

interface Piece {
  start: number;
  end: number;
  length: number;
  /** A chunk boundary before this piece (the pieces of a sentence too long to keep whole). */
  breakBefore?: boolean;
  /** The markdown section the piece is part of. */
  section?: MarkdownSection;
}

export function splitText(text: string, options: SplitOptions): TextChunk[] {
  const measure = options.measure ?? ((value: string) => value.length);
  const splitter = new Splitter(text, options, measure);
  return splitter.split();
}

class Splitter {
  private readonly separators: readonly string[];

  constructor(
    private readonly text: string,
    private readonly options: SplitOptions,
    private readonly measure: (text: string) => number,
  ) {
    this.separators = options.separators ?? DEFAULT_SEPARATORS;
  }

  split(): TextChunk[] {
    if (this.options.splitter !== 'markdown')
      return this.merge(this.pieces(0, this.text.length, this.options.splitter)).map(({ chunk }) => chunk);
    // A section that fits is one piece and may share a chunk with its neighbours; a longer one
    // is chunks of its own, the first starting with its heading.
    const pieces: Piece[] = [];
    let afterSplit = false;
    for (const section of markdownSections(this.text)) {
      const whole = { ...this.piece(section.start, section.end), section };
      if (whole.length <= this.options.size) {
        pieces.push(afterSplit ? { ...whole, breakBefore: true } : whole);
        afterSplit = false;
        continue;
      }
      const parts = this.bySeparators(section.start, section.end, this.separators).map((part) => ({
        ...part,
        section,
      }));
      pieces.push({ ...parts[0]!, breakBefore: true }, ...parts.slice(1));
      afterSplit = true;
    }
    return this.merge(pieces).map(({ chunk, first }) => {
      const section = first.section!;
      // Past its section's heading, a chunk carries the heading path; otherwise the headings above.
      const context = chunk.start > section.start ? section.path : section.parentPath;
      return context ? { ...chunk, context } : chunk;
    });
  }

  private piece(start: number, end: number): Piece {
    return { start, end, length: this.measure(this.text.slice(start, end)) };
  }

  /** Ranges covering [start, end) in order, each at most `size` long. */
  private pieces(start: number, end: number, how: 'recursive' | 'sentences'): Piece[] {
    const whole = this.piece(start, end);
    if (whole.length <= this.options.size) return [whole];
    if (how === 'sentences') {
      const out: Piece[] = [];
      let afterSplit = false;
      for (const sentence of sentenceRanges(this.text, start, end)) {
        const piece = this.piece(sentence.start, sentence.end);
        if (piece.length <= this.options.size) {
          out.push(afterSplit ? { ...piece, breakBefore: true } : piece);
          afterSplit = false;
          continue;
        }
        // A sentence too long for one chunk is chunks of its own: no other sentence joins a fragment.
        const parts = this.bySeparators(sentence.start, sentence.end, [' ']);
        out.push({ ...parts[0]!, breakBefore: true }, ...parts.slice(1));
        afterSplit = true;
      }
      return out;
    }
    return this.bySeparators(start, end, this.separators);
  }

  private bySeparators(start: number, end: number, separators: readonly string[]): Piece[] {
    const whole = this.piece(start, end);
    if (whole.length <= this.options.size) return [whole];
    const index = separators.findIndex((separator) => this.text.slice(start, end).includes(separator));
    if (index === -1) return this.hardSplit(start, end);
    const separator = separators[index]!;
    const rest = separators.slice(index + 1);
    const out: Piece[] = [];
    let from = start;
    // The separator stays at the end of the piece before it: pieces cover the text exactly.
    for (
      let at = this.text.indexOf(separator, start);
      at !== -1 && at < end;
      at = this.text.indexOf(separator, from)
    ) {
      const to = Math.min(end, at + separator.length);
      out.push(...this.bySeparators(from, to, rest));
      from = to;
      if (from >= end) break;
    }
    if (from < end) out.push(...this.bySeparators(from, end, rest));
    return out;
  }

  /** No separator left: cut by length (never inside a surrogate pair). */
  private hardSplit(start: number, end: number): Piece[] {
    const out: Piece[] = [];
    let from = start;
    while (from < end) {
      let to = Math.min(end, from + this.options.size);
      while (to > from + 1 && this.piece(from, to).length > this.options.size)
        to = from + Math.max(1, Math.floor((to - from) * 0.9));
      if (to < end && isLowSurrogate(this.text.charCodeAt(to))) to--;
      if (to <= from) to = Math.min(end, from + 2);
      out.push(this.piece(from, to));
      from = to;
    }
    return out;
  }

  /** Adjacent pieces merged up to `size`, with `overlap` units of whole pieces repeated. */
  private merge(pieces: readonly Piece[]): Array<{ chunk: TextChunk; first: Piece }> {
    const { size, overlap } = this.options;
    const chunks: Array<{ chunk: TextChunk; first: Piece }> = [];
    let current: Piece[] = [];
    let length = 0;
    const emit = () => {
      const chunk = this.trimmed(current[0]!.start, current.at(-1)!.end);
      if (chunk) chunks.push({ chunk, first: current[0]! });
    };
    for (const piece of pieces) {
      if (current.length > 0 && (piece.breakBefore || length + piece.length > size)) {
        emit();
        if (piece.breakBefore) {
          current = [piece];
          length = piece.length;
          continue;
        }
        // Keep the tail of the chunk just emitted, whole pieces up to `overlap`.
        const kept: Piece[] = [];
        let keptLength = 0;
        for (let i = current.length - 1; i >= 0; i--) {
          const candidate = current[i]!;
          if (keptLength + candidate.length > overlap || keptLength + candidate.length + piece.length > size)
            break;
          kept.unshift(candidate);
          keptLength += candidate.length;
        }
        current = kept;
        length = keptLength;
      }
      current.push(piece);
      length += piece.length;
    }
    if (current.length > 0) emit();
    return chunks;
  }

  /** The range without its leading and trailing whitespace; undefined when nothing is left. */
  private trimmed(start: number, end: number): TextChunk | undefined {
    while (start < end && /\s/.test(this.text[start]!)) start++;
    while (end > start && /\s/.test(this.text[end - 1]!)) end--;
    if (start >= end) return undefined;
    return { start, end, text: this.text.slice(start, end) };
  }
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

const sentenceSegmenter = new Intl.Segmenter('en', { granularity: 'sentence' });

function sentenceRanges(text: string, start: number, end: number): Array<{ start: number; end: number }> {
  const ranges: Array<{ start: number; end: number }> = [];
  for (const segment of sentenceSegmenter.segment(text.slice(start, end)))
    ranges.push({ start: start + segment.index, end: start + segment.index + segment.segment.length });
  return ranges;
}

interface MarkdownSection {
  start: number;
  end: number;
  /** Where the body starts (after the heading line); the section's start when it has no heading. */
  bodyStart: number;
  /** The headings down to this section's own ("Install > Linux"). */
  path: string;
  /** The headings above this section's own. */
  parentPath: string;
}

const headingLine = /^(#{1,6})[ \t]+(.+?)[ \t#]*$/;
const fence = /^(```|~~~)/;

/** The text's sections, split before each ATX heading outside fenced code. */
export function markdownSections(text: string): MarkdownSection[] {
  const sections: MarkdownSection[] = [];
  const stack: Array<{ level: number; title: string }> = [];
  let inFence = false;
  let current: MarkdownSection = { start: 0, end: text.length, bodyStart: 0, path: '', parentPath: '' };
  let offset = 0;
  for (const line of text.split('\n')) {
    const lineStart = offset;
    offset += line.length + 1;
    if (fence.test(line.trim())) inFence = !inFence;
    const match = inFence ? null : headingLine.exec(line);
    if (!match) continue;
    if (lineStart > current.start) sections.push({ ...current, end: lineStart });
    const level = match[1]!.length;
    while (stack.length > 0 && stack.at(-1)!.level >= level) stack.pop();
    const parentPath = stack.map((heading) => heading.title).join(' > ');
    stack.push({ level, title: match[2]! });
    current = {
      start: lineStart,
      end: text.length,
      bodyStart: Math.min(text.length, lineStart + line.length + 1),
      path: stack.map((heading) => heading.title).join(' > '),
      parentPath,
    };
  }
  if (current.start < text.length) sections.push({ ...current, end: text.length });
  return sections;
}
