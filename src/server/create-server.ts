import fastifyCors from '@fastify/cors';
import Fastify, { type FastifyInstance } from 'fastify';
import fastifyPlugin from 'fastify-plugin';
import { ErrorCode, VectorsyncError } from '../errors.js';
import { withLogScope } from '../log-scope.js';
import type { Logger } from '../logger.js';
import { Reconciler } from '../reconcile/reconciler.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { authenticateApiKey, touchApiKey } from './api-keys.js';
import { presentedKey, requireAdmin } from './auth.js';
import { corsOptions } from './cors-options.js';
import { registerHandlerTimeout } from './handler-timeout.js';
import { sendError } from './http-errors.js';
import type { ServiceMetrics } from './metrics.js';
import { requestIdOf } from './request-id.js';
import { registerRequestScope } from './request-scope.js';
import { registerCollectionRoutes } from './routes/collection-routes.js';
import { registerDocumentRoutes } from './routes/documents-routes.js';
import { registerHealthRoutes } from './routes/health-routes.js';
import { registerIndexRoutes } from './routes/index-routes.js';
import { registerReconcileRoutes } from './routes/reconcile-routes.js';
import { registerSearchRoutes } from './routes/search-routes.js';
import { registerSyncRoutes } from './routes/sync-routes.js';
import { serverOptions } from './server-options.js';

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
 * Routes that run a long operation to its end by design (a reconciliation run): no handler
 * timeout (abort them with DELETE /v1/sync/reconcile).
 */
const untimedRoutes = new Set(['POST /v1/sync/reconcile']);

/**
 * The HTTP service. Every /v1 request carries an API key; the key decides the tenant, so a
 * request can never name another tenant. Errors are `{ error: { code, message, details, requestId } }`.
 * The server options (timeouts, limits, request ids) are in server-options.ts.
 */
export function createServer(options: CreateServerOptions): FastifyInstance {
  const app = Fastify(serverOptions(options.runtime.config.server, options.logger));
  registerServiceRoutes(app, options);
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({
      error: {
        code: 'NOT_FOUND',
        message: `no route ${request.method} ${request.url.split('?')[0]}`,
        details: {},
        requestId: requestIdOf(request),
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
  const cors = options.runtime.config.server.cors;
  // CORS goes first, so that its preflight answer comes before authentication and its headers
  // reach error answers too; the routes and hooks share the context it was registered in.
  if (cors) app.register(fastifyCors, corsOptions(cors));
  app.register(fastifyPlugin(async (context) => registerRoutesAndHooks(context, options)));
}

function registerRoutesAndHooks(app: FastifyInstance, options: CreateServerOptions): void {
  const { runtime, metrics } = options;
  const server = runtime.config.server;
  const logger = withLogScope(options.logger);
  const lastTouched = new Map<number, number>();
  const prefix = app.prefix;

  // An application's own limits are not ours to change; these routes keep the configured ones.
  app.addHook('onRoute', (route) => {
    route.bodyLimit ??= server.bodyLimitBytes;
  });

  registerRequestScope(app);
  registerHandlerTimeout(app, server.handlerTimeoutMs, untimedRoutes);

  app.addHook('onRequest', async (request) => {
    if (request.url.length > server.maxUrlLength) {
      throw new VectorsyncError(
        ErrorCode.UriTooLong,
        `the URL is ${request.url.length} characters long, more than the limit of ${server.maxUrlLength} (server.maxUrlLength)`,
      );
    }
    const path = request.url.split('?')[0]!.slice(prefix.length);
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
      { method: request.method, route, status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    logger.info(
      {
        requestId: requestIdOf(request),
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
