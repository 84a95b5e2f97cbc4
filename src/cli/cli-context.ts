import pino from 'pino';
import { type ResolvedConfig, resolveConfig } from '../config/resolve-config.js';
import type { EmbedderProgress } from '../embedders/create-embedder.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { ProgressBar } from './progress-bar.js';

export interface GlobalOptions {
  config?: string;
  logLevel?: string;
}

/** Logs go to stderr as JSON lines; stdout is kept for command output. */
export function createCliLogger(level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { service: 'vectorsync' } }, pino.destination(2)) as unknown as Logger;
}

export async function loadConfig(options: GlobalOptions): Promise<ResolvedConfig> {
  return resolveConfig(options.config ? { path: options.config } : {});
}

export async function withRuntime<T>(
  options: GlobalOptions,
  work: (runtime: VectorsyncRuntime, logger: Logger) => Promise<T>,
  openOptions: { skipMigrationCheck?: boolean } = {},
): Promise<T> {
  const logger = createCliLogger(options.logLevel);
  const config = await loadConfig(options);
  const runtime = await VectorsyncRuntime.open({
    config,
    logger,
    onEmbedderProgress: embedderProgressBars(),
    ...openOptions,
  });
  try {
    return await work(runtime, logger);
  } finally {
    await runtime.close();
  }
}

/** One progress bar per embedder doing one-time preparation (e.g. converting word vectors). */
export function embedderProgressBars(): EmbedderProgress {
  const bars = new Map<string, ProgressBar>();
  return (embedder, phase, done, total) => {
    const key = `${embedder}:${phase}`;
    let bar = bars.get(key);
    if (!bar) {
      bar = new ProgressBar(`${embedder}: ${phase}`);
      bars.set(key, bar);
    }
    bar.update(Math.round(done / 1e6), Math.round(total / 1e6), 'MB');
    if (done >= total) bar.finish(`${embedder}: ${phase} done`);
  };
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printTable(rows: Array<Record<string, unknown>>): void {
  if (rows.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const headers = Object.keys(rows[0]!);
  const cells = rows.map((row) => headers.map((header) => formatCell(row[header])));
  const widths = headers.map((header, index) =>
    Math.max(header.length, ...cells.map((line) => line[index]!.length)),
  );
  const line = (values: string[]) =>
    values
      .map((value, index) => value.padEnd(widths[index]!))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${line(headers)}\n${line(widths.map((width) => '-'.repeat(width)))}\n`);
  for (const row of cells) process.stdout.write(`${line(row)}\n`);
}

function formatCell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) return value.join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * Asks for explicit confirmation of a destructive step: the user types `expected` (e.g. the
 * slot name). Without a TTY (scripts, CI) it refuses unless `--yes` was given.
 */
export async function confirmDestructive(question: string, expected: string, yes: boolean): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `${question} Refusing without confirmation: re-run with --yes (no terminal to ask on)`,
    );
  }
  const { createInterface } = await import('node:readline/promises');
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`${question}\nType "${expected}" to confirm: `);
    if (answer.trim() !== expected)
      throw new VectorsyncError(ErrorCode.Aborted, 'not confirmed; nothing was changed');
  } finally {
    prompt.close();
  }
}
