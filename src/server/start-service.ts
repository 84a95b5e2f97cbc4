import type { FastifyInstance } from 'fastify';
import type { Logger } from '../logger.js';
import type { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { OutboxWorker } from '../sync/outbox-worker.js';
import { createServer } from './create-server.js';
import { ServiceMetrics } from './metrics.js';

export interface RunningService {
  app: FastifyInstance;
  url: string;
  worker: OutboxWorker | undefined;
  metrics: ServiceMetrics;
  stop(): Promise<void>;
}

/** The HTTP service plus (unless disabled) this process's sync workers, with orderly shutdown. */
export async function startService(
  runtime: VectorsyncRuntime,
  logger: Logger,
  options: { runWorkers?: boolean; host?: string; port?: number } = {},
): Promise<RunningService> {
  const runWorkers = options.runWorkers ?? runtime.config.server.runWorkers;
  const metrics = new ServiceMetrics(runtime);
  let worker: OutboxWorker | undefined;
  let workerRunning = false;
  if (runWorkers) {
    worker = new OutboxWorker({ runtime, logger });
    metrics.attachWorker(worker);
    await worker.start();
    workerRunning = true;
  }
  const app = createServer({
    runtime,
    logger,
    metrics,
    workersRunning: () => (worker ? workerRunning : undefined),
  });
  const address = await app.listen({
    host: options.host ?? runtime.config.server.host,
    port: options.port ?? runtime.config.server.port,
  });
  const url = address.replace('[::1]', 'localhost').replace('127.0.0.1', 'localhost');
  logger.info({ url, workers: runWorkers }, 'vectorsync service listening');
  let stopping: Promise<void> | undefined;
  return {
    app,
    url,
    worker,
    metrics,
    stop() {
      stopping ??= (async () => {
        await app.close();
        workerRunning = false;
        await worker?.stop();
      })();
      return stopping;
    },
  };
}
