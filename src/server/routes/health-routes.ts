import type { FastifyInstance } from 'fastify';
import { isConnectionError } from '../../db/connection-failure.js';
import { assertMigrated } from '../../db/migrator.js';
import { ErrorCode, isVectorsyncError } from '../../errors.js';
import type { VectorsyncRuntime } from '../../runtime/vectorsync-runtime.js';
import { routeSchema } from '../schemas/common-schemas.js';
import { healthResponseSchema, readyResponseSchema } from '../schemas/ops-schemas.js';

/** /healthz: the process is alive. /readyz: it can serve (database, schema, stores, workers). */
export function registerHealthRoutes(
  app: FastifyInstance,
  runtime: VectorsyncRuntime,
  workersRunning: () => boolean | undefined,
): void {
  app.get(
    '/healthz',
    {
      schema: routeSchema({
        key: 'none',
        tag: 'health',
        summary: 'The process is alive',
        response: { 200: healthResponseSchema },
      }),
    },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      schema: routeSchema({
        key: 'none',
        tag: 'health',
        summary: 'The service can serve: database, migrations, stores, workers',
        response: { 200: readyResponseSchema, 503: readyResponseSchema },
      }),
    },
    async (_request, reply) => {
      const checks: Record<string, { ok: boolean; code?: string; error?: string }> = {};
      const check = async (name: string, probe: () => Promise<unknown>) => {
        try {
          await probe();
          checks[name] = { ok: true };
        } catch (error) {
          checks[name] = { ok: false, ...failedCheck(error) };
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
    },
  );
}

/**
 * What an unauthenticated caller may learn about a failed check: a stable code and our own
 * sentence. Driver text (host, port, user names) stays in the server log.
 */
function failedCheck(error: unknown): { code: string; error: string } {
  if (isConnectionError(error))
    return { code: ErrorCode.SourceUnavailable, error: 'the database is unreachable' };
  if (isVectorsyncError(error)) {
    // These codes' messages quote driver text; the code says enough.
    if (error.code === ErrorCode.StoreUnavailable)
      return { code: error.code, error: 'the store is unreachable' };
    return { code: error.code, error: error.message };
  }
  return { code: ErrorCode.Internal, error: 'the check failed' };
}
