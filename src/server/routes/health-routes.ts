import type { FastifyInstance } from 'fastify';
import { assertMigrated } from '../../db/migrator.js';
import type { VectorsyncRuntime } from '../../runtime/vectorsync-runtime.js';

/** /healthz: the process is alive. /readyz: it can serve (database, schema, stores, workers). */
export function registerHealthRoutes(
  app: FastifyInstance,
  runtime: VectorsyncRuntime,
  workersRunning: () => boolean | undefined,
): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const checks: Record<string, { ok: boolean; error?: string }> = {};
    const check = async (name: string, probe: () => Promise<unknown>) => {
      try {
        await probe();
        checks[name] = { ok: true };
      } catch (error) {
        checks[name] = { ok: false, error: (error as Error).message };
      }
    };
    await check('database', () => runtime.db.query('SELECT 1'));
    await check('migrations', () => assertMigrated(runtime.db));
    const stores = new Set([...runtime.collections.values()].map((collection) => collection.store));
    let index = 0;
    for (const store of stores) await check(`store:${index++}:${store.kind}`, () => store.ping());
    const workers = workersRunning();
    if (workers !== undefined)
      checks.workers = workers ? { ok: true } : { ok: false, error: 'sync workers are not running' };
    const ready = Object.values(checks).every((result) => result.ok);
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
  });
}
