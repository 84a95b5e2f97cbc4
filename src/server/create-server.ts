import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from '../logger.js';
import { Reconciler } from '../reconcile/reconciler.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { ApiKeyAuthenticator } from './api-key-authenticator.js';
import { authenticationHooks, requireAdmin } from './auth.js';
import { sendError } from './http-errors.js';
import type { ServiceMetrics } from './metrics.js';
import { registerRequestRateLimit } from './request-rate-limit.js';
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
  /** Looks API keys up, with its cache (default: a new one with `server.apiKeyCacheMs`). */
  apiKeys?: ApiKeyAuthenticator;
}

const unauthenticatedPaths = new Set(['/healthz', '/readyz']);

/**
 * The HTTP service. Every /v1 request carries an API key; a tenant key decides the tenant, a
 * service or admin key names it per request (auth.ts). Errors are
 * `{ error: { code, message, details } }`.
 */
export function createServer(options: CreateServerOptions): FastifyInstance {
  const app = Fastify({
    bodyLimit: options.runtime.config.server.bodyLimitBytes,
    logger: false,
    genReqId: () => crypto.randomUUID(),
    routerOptions: { ignoreTrailingSlash: true },
  });
  registerServiceRoutes(app, options);
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
  return app;
}

/**
 * Registers the service's routes with their API-key authentication, request logging, metrics
 * and error mapping on `app`: the service's own instance, or an encapsulated plugin context of
 * an application's Fastify (then the hooks apply to these routes only, under its prefix).
 */
export function registerServiceRoutes(app: FastifyInstance, options: CreateServerOptions): void {
  const { runtime, logger, metrics } = options;
  const prefix = app.prefix;
  const apiKeys =
    options.apiKeys ?? new ApiKeyAuthenticator(runtime.db, { cacheMs: runtime.config.server.apiKeyCacheMs });
  const isUnauthenticatedPath = (request: FastifyRequest) =>
    unauthenticatedPaths.has(request.url.split('?')[0]!.slice(prefix.length));

  // An application's own bodyLimit is not ours to change; these routes keep the configured one.
  app.addHook('onRoute', (route) => {
    route.bodyLimit ??= runtime.config.server.bodyLimitBytes;
  });

  const authentication = authenticationHooks(apiKeys, isUnauthenticatedPath);
  app.addHook('onRequest', authentication.identify);
  // Health probes come from orchestrators and load balancers, often through one address, and
  // carry no key: a limit there would take instances out of rotation, not protect them.
  registerRequestRateLimit(app, runtime.config.server.rateLimit, isUnauthenticatedPath);
  app.addHook('preParsing', authentication.enforce);

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
        tenant: request.actingTenant?.tenant ?? request.principal?.tenant ?? undefined,
        tenantFromHeader: request.actingTenant?.fromHeader,
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
