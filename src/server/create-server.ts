import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from '../logger.js';
import { Reconciler } from '../reconcile/reconciler.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { authenticateApiKey, touchApiKey } from './api-keys.js';
import { presentedKey, requireAdmin } from './auth.js';
import { vectorsyncFrameworkErrors } from './framework-errors.js';
import { sendError } from './http-errors.js';
import type { ServiceMetrics } from './metrics.js';
import { setEnvelopeNotFoundHandler } from './not-found-handler.js';
import { registerCollectionRoutes } from './routes/collection-routes.js';
import { registerDocumentRoutes } from './routes/documents-routes.js';
import { registerHealthRoutes } from './routes/health-routes.js';
import { registerIndexRoutes } from './routes/index-routes.js';
import { registerReconcileRoutes } from './routes/reconcile-routes.js';
import { registerSearchRoutes } from './routes/search-routes.js';
import { registerSyncRoutes } from './routes/sync-routes.js';
import { isUnauthenticatedRoute } from './unauthenticated-routes.js';

export interface CreateServerOptions {
  runtime: VectorsyncRuntime;
  logger: Logger;
  metrics?: ServiceMetrics;
  /** Reports whether the process's sync workers run (undefined: this process runs none). */
  workersRunning?: () => boolean | undefined;
  /** Runs and aborts this process's reconciliations (default: a new one). */
  reconciler?: Reconciler;
}

/**
 * The HTTP service. Every /v1 request carries an API key; the key decides the tenant, so a
 * request can never name another tenant. Errors are `{ error: { code, message, details } }`.
 */
export function createServer(options: CreateServerOptions): FastifyInstance {
  const app = Fastify({
    bodyLimit: options.runtime.config.server.bodyLimitBytes,
    logger: false,
    genReqId: () => crypto.randomUUID(),
    routerOptions: { ignoreTrailingSlash: true },
    frameworkErrors: vectorsyncFrameworkErrors,
  });
  registerServiceRoutes(app, options);
  setEnvelopeNotFoundHandler(app);
  return app;
}

/**
 * Registers the service's routes with their API-key authentication, request logging, metrics
 * and error mapping on `app`: the service's own instance, or an encapsulated plugin context of
 * an application's Fastify (then the hooks apply to these routes only, under its prefix).
 */
export function registerServiceRoutes(app: FastifyInstance, options: CreateServerOptions): void {
  const { runtime, logger, metrics } = options;
  const lastTouched = new Map<number, number>();
  const prefix = app.prefix;

  // An application's own bodyLimit is not ours to change; these routes keep the configured one.
  app.addHook('onRoute', (route) => {
    route.bodyLimit ??= runtime.config.server.bodyLimitBytes;
  });

  app.addHook('onRequest', async (request) => {
    if (isUnauthenticatedRoute(request, prefix)) return;
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
}
