import type { AnnMethod } from '../stores/index-ops-support.js';

export interface TimePoint {
  rows: number;
  seconds: number;
}

/**
 * seconds = intercept + slope × basis(rows). HNSW inserts each row with a search of a graph
 * that grows, so its build time goes like n·log n; IVFFlat's k-means and assignment are linear.
 */
export interface BuildTimeModel {
  basis: 'n log n' | 'n';
  intercept: number;
  slope: number;
  /** Goodness of fit on the rehearsal's points (1 is perfect). */
  r2: number;
  points: TimePoint[];
}

function basisOf(method: AnnMethod): BuildTimeModel['basis'] {
  return method === 'hnsw' ? 'n log n' : 'n';
}

function basisValue(basis: BuildTimeModel['basis'], rows: number): number {
  return basis === 'n log n' ? rows * Math.log(Math.max(rows, 2)) : rows;
}

/**
 * Least squares over the rehearsal's sample sizes. A negative intercept (noise on small
 * samples) would predict nonsense for small tables, so the fit then goes through the origin.
 */
export function fitBuildTimeModel(points: readonly TimePoint[], method: AnnMethod): BuildTimeModel {
  if (points.length === 0) throw new Error('fitBuildTimeModel needs at least one point');
  const basis = basisOf(method);
  const xs = points.map((point) => basisValue(basis, point.rows));
  const ys = points.map((point) => point.seconds);
  const meanX = xs.reduce((sum, x) => sum + x, 0) / xs.length;
  const meanY = ys.reduce((sum, y) => sum + y, 0) / ys.length;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < xs.length; i++) {
    sxx += (xs[i]! - meanX) ** 2;
    sxy += (xs[i]! - meanX) * (ys[i]! - meanY);
  }
  let slope = sxx > 0 ? sxy / sxx : 0;
  let intercept = meanY - slope * meanX;
  if (intercept < 0 || sxx === 0) {
    const sumXX = xs.reduce((sum, x) => sum + x * x, 0);
    const sumXY = xs.reduce((sum, x, i) => sum + x * ys[i]!, 0);
    slope = sumXX > 0 ? sumXY / sumXX : 0;
    intercept = 0;
  }
  const ssTot = ys.reduce((sum, y) => sum + (y - meanY) ** 2, 0);
  const ssRes = ys.reduce((sum, y, i) => sum + (y - (intercept + slope * xs[i]!)) ** 2, 0);
  return { basis, intercept, slope, r2: ssTot > 0 ? 1 - ssRes / ssTot : 1, points: [...points] };
}

export function predictSeconds(model: BuildTimeModel, rows: number): number {
  return model.intercept + model.slope * basisValue(model.basis, rows);
}

export function describeModel(model: BuildTimeModel): string {
  const term = model.basis === 'n log n' ? 'n·ln(n)' : 'n';
  return `t = ${model.intercept.toFixed(2)}s + ${model.slope.toExponential(3)}s × ${term} (R² ${model.r2.toFixed(3)}, ${model.points.length} points)`;
}

/**
 * Memory pgvector's HNSW build needs to keep the whole graph in maintenance_work_mem, from
 * its in-memory layout (0.8): per element a 120-byte header, the vector (8 + 4·d bytes; 8 + 2·d
 * for halfvec), a
 * neighbour array of 2m candidates (16 bytes each) at layer 0 and of m on each upper layer
 * (1/(m−1) of them on average), plus ~16 bytes of allocator overhead per allocation.
 * Beyond it the build spills to disk and slows down many times over.
 */
export function estimateHnswGraphBytes(
  rows: number,
  dimensions: number,
  m: number,
  componentBytes: 2 | 4 = 4,
): number {
  const align = (bytes: number) => Math.ceil(bytes / 8) * 8;
  const upperLayers = 1 / Math.max(1, m - 1);
  const perElement =
    align(120) +
    align(8 + componentBytes * dimensions) +
    align(8 * (1 + upperLayers)) +
    align(8 + 2 * m * 16) +
    upperLayers * align(8 + m * 16) +
    16 * (4 + upperLayers);
  return Math.round(rows * perElement);
}

const memoryUnits: Record<string, number> = { kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

/** Postgres memory settings ("512MB", "2GB", "65536kB") in bytes. */
export function parseMemorySetting(value: string): number | undefined {
  const match = /^(\d+)\s*(kB|MB|GB|TB)?$/.exec(value.trim());
  if (!match) return undefined;
  return Number(match[1]) * (match[2] ? memoryUnits[match[2]]! : 1024);
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${Math.round(bytes / 1024)} kB`;
}
