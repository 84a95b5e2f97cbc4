import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from '../logger.js';
import { serviceRoutes } from '../server/create-server.js';
import { setEnvelopeNotFoundHandler } from '../server/not-found-handler.js';
import { internalsOf } from './open-vectorsync.js';
import type { Vectorsync } from './vectorsync-api.js';

/** Options of the `vectorsync/fastify` plugin. */
export interface VectorsyncPluginOptions {
  /** An open vectorsync (from `openVectorsync()`); the plugin does not close it. */
  vectorsync: Vectorsync;
  /** Request and error logs (default: the vectorsync's logger). */
  logger?: Logger;
}

/**
 * The service's HTTP routes (documents, search, sync status, reconcile, index operations,
 * `/healthz`, `/readyz`) as a Fastify plugin for your own app. The plugin is encapsulated: its
 * API-key authentication, per-key rate limit (`server.rateLimit`), error mapping
 * (`{ error: { code, message, details } }`) and body limit apply to its routes only, under the
 * prefix you register it with; registered with a prefix, an unknown path below it is a 404 in
 * the same envelope. Errors Fastify's router raises before any plugin runs (a URL whose
 * %-escapes do not decode) follow your server's `frameworkErrors` option: pass
 * `vectorsyncFrameworkErrors` to get the envelope. `/metrics` and the
 * reconcile schedule belong to `vectorsync.serve()`; sync workers run where you start them
 * (`vectorsync.startWorkers()`).
 *
 * ```ts
 * const app = Fastify();
 * await app.register(vectorsyncPlugin, { vectorsync, prefix: '/search-api' });
 * ```
 */
export const vectorsyncPlugin: FastifyPluginAsync<VectorsyncPluginOptions> = async (app, options) => {
  const { runtime, logger, reconciler, workersRunning, apiKeys } = internalsOf(options.vectorsync);
  await serviceRoutes(app, {
    runtime,
    logger: options.logger ?? logger,
    reconciler,
    workersRunning,
    apiKeys,
  });
  // Under a prefix, unknown paths below it are ours to answer; without one they are the app's.
  if (app.prefix !== '') setEnvelopeNotFoundHandler(app);
};
