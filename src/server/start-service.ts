import type { FastifyInstance } from 'fastify';
import type { Logger } from '../logger.js';
import { ReconcileSchedule } from '../reconcile/reconcile-schedule.js';
import { Reconciler } from '../reconcile/reconciler.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { IndexWatcher } from '../sync/index-watcher.js';
import { SyncWorkers } from '../sync/sync-workers.js';
import type { ApiKeyAuthenticator } from './api-key-authenticator.js';
import { createServer } from './create-server.js';
import { ServiceMetrics } from './metrics.js';
import { createMetricsServer } from './metrics-server.js';

export interface RunningService {
  app: FastifyInstance;
  url: string;
  /** The unauthenticated metrics listener's `/metrics` URL, when `server.metricsPort` is set. */
  metricsUrl: string | undefined;
  workers: SyncWorkers | undefined;
  metrics: ServiceMetrics;
  reconciler: Reconciler;
  stop(): Promise<void>;
}

/** The HTTP service plus (unless disabled) this process's sync workers, with orderly shutdown. */
export async function startService(
  runtime: VectorsyncRuntime,
  logger: Logger,
  options: {
    runWorkers?: boolean;
    host?: string;
    port?: number;
    metricsPort?: number;
    apiKeys?: ApiKeyAuthenticator;
  } = {},
): Promise<RunningService> {
  const runWorkers = options.runWorkers ?? runtime.config.server.runWorkers;
  const metrics = new ServiceMetrics(runtime);
  let workers: SyncWorkers | undefined;
  // Dual-write requests write indexes too: this process must follow new index builds.
  let watcher: IndexWatcher | undefined;
  if (runWorkers) {
    workers = new SyncWorkers(runtime, logger);
    await workers.start();
    metrics.attachWorkers(workers);
  } else {
    watcher = new IndexWatcher(runtime, logger, runtime.config.sync.indexRefreshMs);
    await watcher.start();
  }
  const reconciler = new Reconciler(runtime);
  metrics.attachReconciler(reconciler);
  const schedule = new ReconcileSchedule(runtime, reconciler, runtime.config.reconcile.schedule, logger);
  const app = createServer({
    runtime,
    logger,
    metrics,
    reconciler,
    workersRunning: () => workers?.running,
    ...(options.apiKeys ? { apiKeys: options.apiKeys } : {}),
  });
  const address = await app.listen({
    host: options.host ?? runtime.config.server.host,
    port: options.port ?? runtime.config.server.port,
  });
  const url = localName(address);
  const server = runtime.config.server;
  const metricsPort = options.metricsPort ?? server.metricsPort;
  let metricsApp: FastifyInstance | undefined;
  let metricsUrl: string | undefined;
  if (metricsPort !== undefined) {
    metricsApp = createMetricsServer(metrics, server, logger);
    try {
      const metricsAddress = await metricsApp.listen({
        host: server.metricsHost ?? server.host,
        port: metricsPort,
      });
      metricsUrl = `${localName(metricsAddress)}/metrics`;
    } catch (error) {
      await app.close();
      await schedule.stop();
      await workers?.stop();
      await watcher?.stop();
      throw error;
    }
  }
  logger.info({ url, metricsUrl, workers: runWorkers }, 'vectorsync service listening');
  schedule.start();
  let stopping: Promise<void> | undefined;
  return {
    app,
    url,
    metricsUrl,
    workers,
    metrics,
    reconciler,
    stop() {
      stopping ??= (async () => {
        await schedule.stop();
        reconciler.abort();
        await app.close();
        await metricsApp?.close();
        await workers?.stop();
        await watcher?.stop();
      })();
      return stopping;
    },
  };
}

function localName(address: string): string {
  return address.replace('[::1]', 'localhost').replace('127.0.0.1', 'localhost');
}
