import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from '../logger.js';
import { Reconciler } from '../reconcile/reconciler.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { authenticateApiKey, touchApiKey } from './api-keys.js';
import { presentedKey, requireAdmin } from './auth.js';
import { sendError } from './http-errors.js';
import type { ServiceMetrics } from './metrics.js';
import { registerCollectionRoutes } from './routes/collection-routes.js';
import { registerDocumentRoutes } from './routes/documents-routes.js';
import { registerHealthRoutes } from './routes/health-routes.js';
import { registerIndexRoutes } from './routes/index-routes.js';
import { registerReconcileRoutes } from './routes/reconcile-routes.js';
import { registerSearchRoutes } from './routes/search-routes.js';
import { registerSyncRoutes } from './routes/sync-routes.js';

export interface CreateServerOptions {
  runtime: VectorsyncRuntime;
  logger: Logger;
  metrics?: ServiceMetrics;
  /** Reports whether the process's sync workers run (undefined: this process runs none). */
  workersRunning?: () => boolean | undefined;
  /** Runs and aborts this process's reconciliations (default: a new one). */
  reconciler?: Reconciler;
}

const unauthenticatedPaths = new Set(['/healthz', '/readyz']);

/**
 * The HTTP service. Every /v1 request carries an API key; the key decides the tenant, so a
 * request can never name another tenant. Errors are `{ error: { code, message, details } }`.
 */
export function createServer(options: CreateServerOptions): FastifyInstance {
  const { runtime, logger, metrics } = options;
  const app = Fastify({
    bodyLimit: runtime.config.server.bodyLimitBytes,
    logger: false,
    genReqId: () => crypto.randomUUID(),
    routerOptions: { ignoreTrailingSlash: true },
  });
  const lastTouched = new Map<number, number>();

  app.addHook('onRequest', async (request) => {
    const path = request.url.split('?')[0]!;
    if (unauthenticatedPaths.has(path)) return;
    request.principal = await authenticateApiKey(runtime.db, presentedKey(request));
    // last_used_at is for humans auditing keys: once a minute per key is plenty.
    const now = Date.now();
    if ((lastTouched.get(request.principal.keyId) ?? 0) < now - 60_000) {
      lastTouched.set(request.principal.keyId, now);
      void touchApiKey(runtime.db, request.principal.keyId).catch(() => undefined);
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics?.httpDuration.observe(
      { method: request.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    logger.info(
      {
        requestId: request.id,
        method: request.method,
        route,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        tenant: request.principal?.tenant ?? undefined,
        key: request.principal?.name,
      },
      'request',
    );
  });

  app.setErrorHandler((error, request, reply) => sendError(error, request, reply, logger));
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({
      error: {
        code: 'NOT_FOUND',
        message: `no route ${request.method} ${request.url.split('?')[0]}`,
        details: {},
        requestId: String(request.id),
      },
    }),
  );

  registerHealthRoutes(app, runtime, options.workersRunning ?? (() => undefined));
  registerCollectionRoutes(app, runtime);
  registerDocumentRoutes(app, runtime, logger);
  registerSearchRoutes(app, runtime);
  registerSyncRoutes(app, runtime);
  registerReconcileRoutes(app, runtime, options.reconciler ?? new Reconciler(runtime));
  registerIndexRoutes(app, runtime);
  if (metrics) {
    app.get('/metrics', async (request, reply) => {
      requireAdmin(request);
      return reply
        .header('content-type', metrics.registry.contentType)
        .send(await metrics.registry.metrics());
    });
  }
  return app;
}
