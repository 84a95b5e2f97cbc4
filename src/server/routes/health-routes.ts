import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isConnectionError } from '../../db/connection-failure.js';
import { assertMigrated } from '../../db/migrator.js';
import { ErrorCode, isVectorsyncError } from '../../errors.js';
import type { VectorsyncRuntime } from '../../runtime/vectorsync-runtime.js';
import type { ApiKeyAuthenticator } from '../api-key-authenticator.js';
import { presentedKey } from '../auth.js';
import { routeSchema } from '../schemas/common-schemas.js';
import { healthResponseSchema, readyResponseSchema } from '../schemas/ops-schemas.js';

/** /healthz: the process is alive. /readyz: it can serve (database, schema, stores, workers). */
export function registerHealthRoutes(
  app: FastifyInstance,
  runtime: VectorsyncRuntime,
  workersRunning: () => boolean | undefined,
  apiKeys: ApiKeyAuthenticator,
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
        summary: 'The service can serve: database, migrations, stores, workers (details for admin keys)',
        response: { 200: readyResponseSchema, 503: readyResponseSchema },
      }),
    },
    async (request, reply) => {
      const checks: Record<string, { ok: boolean; code?: string; error?: string; detail?: string }> = {};
      const failures: Array<{ name: string; error: unknown }> = [];
      const check = async (name: string, probe: () => Promise<unknown>) => {
        try {
          await probe();
          checks[name] = { ok: true };
        } catch (error) {
          checks[name] = { ok: false, ...failedCheck(error) };
          failures.push({ name, error });
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
      // The underlying messages name hosts, ports and users: for operators (admin keys) only.
      if (failures.length > 0 && (await presentsAdminKey(apiKeys, request))) {
        for (const { name, error } of failures) checks[name]!.detail = underlyingMessage(error);
      }
      return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
    },
  );
}

/**
 * What any caller may learn about a failed check: a stable code and a fixed sentence. Driver
 * text (host, port, user names) stays in the server log and in the admin-only `detail`.
 */
function failedCheck(error: unknown): { code: string; error: string } {
  if (isConnectionError(error))
    return { code: ErrorCode.SourceUnavailable, error: 'the database is unreachable' };
  if (!isVectorsyncError(error)) return { code: ErrorCode.Internal, error: 'the check failed' };
  return { code: error.code, error: sentenceFor[error.code] ?? 'the check failed' };
}

const sentenceFor: Partial<Record<string, string>> = {
  [ErrorCode.SourceUnavailable]: 'the database is unreachable',
  [ErrorCode.StoreUnavailable]: 'the store is unreachable',
  [ErrorCode.MigrationsPending]: 'the database schema has migrations pending',
  [ErrorCode.MigrationAhead]: 'the database schema is newer than this version of vectorsync',
};

/** The error's own message and its causes', for an operator. */
function underlyingMessage(error: unknown): string {
  const messages: string[] = [];
  for (let current = error, depth = 0; current instanceof Error && depth < 5; depth++) {
    if (current.message) messages.push(current.message);
    current = (current as { cause?: unknown }).cause;
  }
  return messages.join(': caused by: ') || String(error);
}

/** /readyz needs no key; a valid admin key presented with it unlocks the failure details. */
async function presentsAdminKey(apiKeys: ApiKeyAuthenticator, request: FastifyRequest): Promise<boolean> {
  const key = presentedKey(request);
  if (!key) return false;
  try {
    const lookup = await apiKeys.authenticate(key);
    return lookup.ok && lookup.principal.kind === 'admin';
  } catch {
    // Unknown, revoked, or the database that holds the keys is down: no details.
    return false;
  }
}
