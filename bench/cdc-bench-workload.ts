import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { parseLsn } from '../src/capture/cdc/lsn.js';
import { parseConfig, type ResolvedConfig } from '../src/config/resolve-config.js';
import type { SqlExecutor } from '../src/db/database.js';
import { generateCatalog } from '../src/demo/catalog-generator.js';
import { demoConfig } from '../src/demo/demo-schema.js';

/** The demo collection in one sync mode, embedded by the `hash` embedder at `dimensions`. */
export function benchConfig(
  url: string,
  options: {
    dimensions: number;
    mode: 'outbox' | 'cdc' | 'dual-write';
    slot?: string;
    cdcBatchSize?: number;
  },
): ResolvedConfig {
  const base = demoConfig({ dimensions: options.dimensions });
  return parseConfig({
    ...base,
    databaseUrl: url,
    collections: { products: { ...base.collections.products!, sync: { mode: options.mode, bus: false } } },
    cdc: {
      slot: options.slot ?? 'vectorsync_bench',
      ...(options.cdcBatchSize ? { batchSize: options.cdcBatchSize } : {}),
    },
    // The latency benchmark sends one key's requests as fast as it can.
    server: { ...base.server, rateLimit: false },
  });
}

/**
 * Inserts `count` catalog rows with ids `<prefix><n>`, `perTransaction` rows per transaction.
 * Returns the WAL insert position taken inside the last transaction just before its COMMIT:
 * the last commit record lies beyond it, so a slot confirmed past it has applied everything.
 */
export async function insertRows(
  url: string,
  options: { prefix: string; count: number; perTransaction: number; seed: number },
): Promise<bigint> {
  const items = [...generateCatalog(options.count, options.seed)];
  return inTransactions(url, options.count, options.perTransaction, (client, start, end) => {
    const chunk = items.slice(start, end);
    return client.query(
      `INSERT INTO products (article_id, tenant_id, name, description, product_type, product_group, color, department, index_name, price)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::numeric[])`,
      [
        chunk.map((_, i) => `${options.prefix}${start + i}`),
        chunk.map((_, i) => `tenant-${(start + i) % 10}`),
        chunk.map((item) => item.name),
        chunk.map((item) => item.description),
        chunk.map((item) => item.product_type),
        chunk.map((item) => item.product_group),
        chunk.map((item) => item.color),
        chunk.map((item) => item.department),
        chunk.map((item) => item.index_name),
        chunk.map((item) => item.price),
      ],
    );
  });
}

/**
 * Updates rows `<prefix>0 … <prefix>(count-1)` so that the embedded text changes (a new
 * vector, a new HNSW entry), `perTransaction` rows per transaction; returns the same marker.
 */
export async function updateRows(
  url: string,
  options: { prefix: string; count: number; perTransaction: number },
): Promise<bigint> {
  return inTransactions(url, options.count, options.perTransaction, (client, start, end) =>
    client.query(
      `UPDATE products SET name = left(name || ' revised', 255), description = 'Revised: ' || coalesce(description, ''), price = price + 1
        WHERE article_id = ANY($1::text[])`,
      [Array.from({ length: end - start }, (_, i) => `${options.prefix}${start + i}`)],
    ),
  );
}

async function inTransactions(
  url: string,
  count: number,
  perTransaction: number,
  work: (client: pg.Client, start: number, end: number) => Promise<unknown>,
): Promise<bigint> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let marker = 0n;
  try {
    for (let start = 0; start < count; start += perTransaction) {
      const end = Math.min(count, start + perTransaction);
      await client.query('BEGIN');
      await work(client, start, end);
      const position = await client.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
      marker = parseLsn(position.rows[0]!.lsn);
      await client.query('COMMIT');
    }
  } finally {
    await client.end();
  }
  return marker;
}

/** Index rows that are missing or at another version than the source row (0 when in sync). */
export async function indexDifferences(db: SqlExecutor, location: string): Promise<number> {
  const result = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM products p FULL JOIN vectorsync."${location}" i ON i.id = p.article_id
      WHERE p.article_id IS NULL OR i.id IS NULL OR i.version <> p.version`,
  );
  return result.rows[0]!.n;
}

/**
 * A pgbench script of single-row transactions: 70% updates of one of the `rows` seeded rows
 * (`<prefix>n`) that change the embedded text, 30% inserts of new rows.
 */
export async function writePgbenchScript(dir: string, prefix: string, rows: number): Promise<string> {
  const script = join(dir, 'cdc-writes.sql');
  await writeFile(
    script,
    [
      '\\set r random(1, 10)',
      `\\set n random(0, ${rows - 1})`,
      '\\if :r <= 7',
      `UPDATE products SET name = 'Refreshed item ' || :n || ' ' || :client_id, price = price + 1 WHERE article_id = '${prefix}' || :n;`,
      '\\else',
      `INSERT INTO products (article_id, tenant_id, name, description, product_type, color, price) VALUES ('B' || nextval('bench_ids'), 'tenant-0', 'Bench jacket ' || :n, 'A warm padded jacket for winter', 'Jacket', 'Black', 49.99);`,
      '\\endif',
      '',
    ].join('\n'),
  );
  return script;
}

/** pgbench, rate-limited (-R, Poisson arrivals) with enough clients that commit latency does not cap the rate. */
export async function runPgbench(url: string, script: string, rate: number, seconds: number) {
  const binDir = process.env.VECTORSYNC_PG_BINDIR ?? '/usr/lib/postgresql/15/bin';
  const clients = Math.min(64, Math.max(8, Math.ceil(rate / 100)));
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(
      `${binDir}/pgbench`,
      ['-n', '-f', script, '-R', String(rate), '-T', String(seconds), '-c', String(clients), '-j', '2', url],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let text = '';
    child.stdout.on('data', (chunk) => (text += chunk));
    child.stderr.on('data', (chunk) => (text += chunk));
    child.on('exit', (code) =>
      code === 0 ? resolve(text) : reject(new Error(`pgbench failed (${code}): ${text}`)),
    );
  });
  const transactions = Number(/number of transactions actually processed: (\d+)/.exec(output)?.[1] ?? 0);
  const failed = Number(/number of failed transactions: (\d+)/.exec(output)?.[1] ?? 0);
  const skipped = Number(/number of transactions skipped: (\d+)/.exec(output)?.[1] ?? 0);
  return { transactions, failed, skipped, clients };
}
