import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import pg from 'pg';
import { migrate } from '../src/db/migrator.js';
import { PgDatabase } from '../src/db/pg-database.js';
import { PostgresCluster } from '../test/helpers/postgres-cluster.js';

/** A Postgres for one benchmark run: DATABASE_URL if set, else a throwaway cluster (durable: fsync on). */
export async function benchDatabase(name: string, settings: Record<string, string | number> = {}) {
  let cluster: PostgresCluster | undefined;
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    cluster = await PostgresCluster.start({
      durable: true,
      settings: { shared_buffers: '1GB', max_wal_size: '4GB', ...settings },
    });
    adminUrl = cluster.url();
  }
  const database = `bench_${name}_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const db = PgDatabase.fromUrl(url.toString(), { max: 16, applicationName: 'vectorsync-bench' });
  await db.query('CREATE EXTENSION IF NOT EXISTS vector');
  await migrate(db);
  return {
    url: url.toString(),
    db,
    cluster,
    async close() {
      await db.close();
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await client.end();
      await cluster?.destroy();
    },
  };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

export function machineDescription(): string {
  const postgres = (() => {
    try {
      return execFileSync('/usr/lib/postgresql/15/bin/postgres', ['--version']).toString().trim();
    } catch {
      return 'postgres (DATABASE_URL)';
    }
  })();
  return `${cpus().length} cores (${cpus()[0]?.model ?? 'cpu'}), ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, ${postgres}, pgvector 0.8.0`;
}

export function markdownTable(rows: Array<Record<string, string | number>>): string {
  const headers = Object.keys(rows[0] ?? {});
  const line = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
  return [
    line(headers),
    line(headers.map(() => '---')),
    ...rows.map((row) => line(headers.map((h) => row[h] ?? ''))),
  ].join('\n');
}

export function printTable(rows: Array<Record<string, string | number>>): void {
  console.log(markdownTable(rows));
}

export async function writeReport(file: string, markdown: string, data: unknown): Promise<void> {
  await mkdir('docs/benchmarks', { recursive: true });
  await writeFile(`docs/benchmarks/${file}.md`, markdown);
  await writeFile(`docs/benchmarks/${file}.json`, `${JSON.stringify(data, null, 2)}\n`);
  console.log(`\nwrote docs/benchmarks/${file}.md and .json`);
}

/** `--name=N` from the command line: a positive integer, or `fallback` when absent. */
export function integerArgument(name: string, fallback: number): number {
  const raw = process.argv.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1];
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`--${name} must be a positive integer (got "${raw}")`);
  return value;
}

/** Until the outbox has nothing pending or processing (the bench's sync has caught up). */
export async function waitForDrain(db: {
  query: (sql: string) => Promise<{ rows: Array<{ n: string }> }>;
}): Promise<void> {
  for (;;) {
    const pending = await db.query(
      `SELECT count(*)::text AS n FROM vectorsync.outbox WHERE status IN ('pending', 'processing')`,
    );
    if (Number(pending.rows[0]!.n) === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
