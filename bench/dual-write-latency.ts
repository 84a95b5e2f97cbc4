import type { AddressInfo } from 'node:net';
import { demoProductsTableSql } from '../src/demo/demo-schema.js';
import type { LogFields, Logger } from '../src/logger.js';
import { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { createApiKey } from '../src/server/api-keys.js';
import { createServer } from '../src/server/create-server.js';
import { OutboxWorker } from '../src/sync/outbox-worker.js';
import { setupCollections } from '../src/sync/setup-collections.js';
import { benchDatabase, percentile } from './bench-environment.js';
import { benchConfig, insertRows } from './cdc-bench-workload.js';

export interface RequestLatency {
  mode: 'dual-write' | 'outbox';
  op: 'POST create' | 'PATCH update' | 'all';
  requests: number;
  errors: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  drift: number;
  /** Why the index write did not make it into the request (code: error), with counts. */
  driftReasons: Record<string, number>;
}

/**
 * Request latency of the documents API over real HTTP (fastify listening on 127.0.0.1, the
 * client is Node's fetch with keep-alive in the same process, `concurrency` requests in flight).
 * Half the requests create documents, the other half PATCH those documents' text. The table
 * is seeded first and indexed by the outbox worker, which is then stopped: in outbox mode the
 * request writes the row and its outbox event only, in dual-write mode it also embeds and
 * writes the index before answering.
 */
export async function measureDocumentRequests(options: {
  mode: 'dual-write' | 'outbox';
  dimensions: number;
  seedRows: number;
  requests: number;
  concurrency: number;
}): Promise<RequestLatency[]> {
  const env = await benchDatabase(`http_${options.mode.replace('-', '_')}`);
  try {
    await env.db.query(demoProductsTableSql);
    await insertRows(env.url, { prefix: 'S', count: options.seedRows, perTransaction: 5000, seed: 5 });
    const config = benchConfig(env.url, { dimensions: options.dimensions, mode: options.mode });
    const runtime = await VectorsyncRuntime.open({ config, db: env.db });
    await setupCollections(runtime);
    await indexBackfill(runtime, options.seedRows);
    const key = (await createApiKey(env.db, { name: 'bench', tenant: 'tenant-0' })).key;
    const warnings: LogFields[] = [];
    const app = createServer({ runtime, logger: collectingLogger(warnings) });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/v1/collections/products/documents`;
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const creates = Math.floor(options.requests / 2);
    const samples: Array<{ op: 'POST create' | 'PATCH update'; ms: number; ok: boolean; drift: boolean }> =
      [];
    const timed = async (op: 'POST create' | 'PATCH update', send: () => Promise<Response>) => {
      const started = performance.now();
      const response = await send();
      await response.arrayBuffer();
      samples.push({
        op,
        ms: performance.now() - started,
        ok: response.ok,
        drift: response.headers.get('x-vectorsync-index') === 'drift',
      });
    };
    await inParallel(creates, options.concurrency, (n) =>
      timed('POST create', () =>
        fetch(base, {
          method: 'POST',
          headers,
          body: JSON.stringify({
            article_id: `H${n}`,
            name: `Bench parka ${n}`,
            description: `A water-repellent parka with a detachable hood, number ${n}`,
            product_type: 'Jacket',
            color: 'Navy',
            department: 'Outdoor',
            price: 79.5,
          }),
        }),
      ),
    );
    await inParallel(options.requests - creates, options.concurrency, (n) =>
      timed('PATCH update', () =>
        fetch(`${base}/H${n % creates}`, {
          method: 'PATCH',
          headers,
          body: JSON.stringify({ name: `Bench parka ${n} (revised)` }),
        }),
      ),
    );
    await app.close();
    await runtime.close();
    const summarise = (op: RequestLatency['op'], list: typeof samples): RequestLatency => {
      const ms = list.filter((s) => s.ok).map((s) => s.ms);
      return {
        mode: options.mode,
        op,
        requests: list.length,
        errors: list.filter((s) => !s.ok).length,
        p50: percentile(ms, 50),
        p95: percentile(ms, 95),
        p99: percentile(ms, 99),
        max: Math.max(...ms),
        drift: list.filter((s) => s.drift).length,
        driftReasons: {},
      };
    };
    const reasons: Record<string, number> = {};
    for (const warning of warnings) {
      const reason = `${String(warning.code)}: ${String(warning.err).slice(0, 160)}`;
      reasons[reason] = (reasons[reason] ?? 0) + 1;
    }
    return [
      summarise(
        'POST create',
        samples.filter((s) => s.op === 'POST create'),
      ),
      summarise(
        'PATCH update',
        samples.filter((s) => s.op === 'PATCH update'),
      ),
      { ...summarise('all', samples), driftReasons: reasons },
    ];
  } finally {
    await env.close();
  }
}

/** Lets the outbox worker apply the backfill that setup enqueued, then stops it. */
async function indexBackfill(runtime: VectorsyncRuntime, rows: number): Promise<void> {
  const worker = new OutboxWorker({ runtime });
  let done = 0;
  const finished = new Promise<void>((resolve) => {
    worker.on('batch', (report) => {
      done += report.done;
      if (done >= rows) resolve();
    });
  });
  await worker.start();
  if (rows > 0) await finished;
  await worker.stop();
}

async function inParallel(count: number, concurrency: number, work: (n: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) await work(next++);
    }),
  );
}

/** Keeps what the dual-writer warns about (drift and its cause) so the report can say why. */
function collectingLogger(warnings: LogFields[]): Logger {
  const noop = () => {};
  const logger: Logger = {
    debug: noop,
    info: noop,
    warn: (fields) => warnings.push(fields),
    error: (fields) => warnings.push(fields),
    child: () => logger,
  };
  return logger;
}
