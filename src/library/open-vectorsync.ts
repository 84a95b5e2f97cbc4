import { fileURLToPath } from 'node:url';
import { resolveConfig } from '../config/resolve-config.js';
import { budgetStandings, clearBudget, listBudgets, setBudget } from '../costs/embedding-budgets.js';
import { migrate } from '../db/migrator.js';
import { ErrorCode, VectorsyncError } from '../errors.js';
import { IndexOperations } from '../indexops/index-operations.js';
import type { IndexOperationRequest } from '../indexops/operation-request.js';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import { enqueueChange } from '../outbox/app-enqueue.js';
import { Reconciler } from '../reconcile/reconciler.js';
import { VectorsyncRuntime } from '../runtime/vectorsync-runtime.js';
import { decodeCursor, SearchService } from '../search/search-service.js';
import { ApiKeyAuthenticator } from '../server/api-key-authenticator.js';
import { createApiKey, listApiKeys, revokeApiKey } from '../server/api-keys.js';
import { startService } from '../server/start-service.js';
import { readSyncStatus } from '../status/sync-status.js';
import { setupCollections } from '../sync/setup-collections.js';
import { SyncWorkers } from '../sync/sync-workers.js';
import type {
  IndexBuildRequest,
  IndexOperationListeners,
  OpenVectorsyncOptions,
  Vectorsync,
  VectorsyncConfigSource,
  VectorsyncService,
  VectorsyncWorkers,
} from './vectorsync-api.js';

/** What the Fastify plugin needs of an open Vectorsync; never part of the public API. */
export interface VectorsyncInternals {
  runtime: VectorsyncRuntime;
  logger: Logger;
  reconciler: Reconciler;
  /** API-key lookups of every service and plugin of this object (one cache, so revoke() reaches it). */
  apiKeys: ApiKeyAuthenticator;
  /** Whether this object's sync workers run (undefined: it started none). */
  workersRunning(): boolean | undefined;
}

const internals = new WeakMap<Vectorsync, VectorsyncInternals>();

/** The runtime behind a Vectorsync (for vectorsync/fastify); refuses objects not made by openVectorsync. */
export function internalsOf(vectorsync: Vectorsync): VectorsyncInternals {
  const found = internals.get(vectorsync);
  if (!found) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      'expected the object returned by openVectorsync() (import { openVectorsync } from "vectorsync")',
    );
  }
  return found;
}

/**
 * Opens vectorsync from a config object or a config file (default: `$VECTORSYNC_CONFIG`, else
 * `./vectorsync.config.json`): validates the config, connects to the database, checks each
 * collection against its live table and prepares embedders and stores. Close it with `close()`.
 *
 * ```ts
 * const vectorsync = await openVectorsync('./vectorsync.config.json', { migrate: true });
 * await vectorsync.setup();
 * const workers = await vectorsync.startWorkers();
 * const { hits } = await vectorsync.search({ collection: 'products', tenant: 'acme', query: 'warm jacket' });
 * await vectorsync.close();
 * ```
 */
export async function openVectorsync(
  source?: VectorsyncConfigSource,
  options: OpenVectorsyncOptions = {},
): Promise<Vectorsync> {
  const env: NodeJS.ProcessEnv = { ...(options.env ?? process.env) };
  const logger = options.logger ?? silentLogger;
  const config = await resolveConfig(
    source === undefined
      ? { env }
      : typeof source === 'string'
        ? { path: source, env }
        : source instanceof URL
          ? { path: fileURLToPath(source), env }
          : { config: source, env },
  );
  const runtime = await VectorsyncRuntime.open({
    config,
    logger,
    env,
    ...(options.migrate ? { skipMigrationCheck: true } : {}),
  });
  try {
    if (options.migrate) {
      await migrate(runtime.db, logger);
      await runtime.refreshIndexes();
    }
  } catch (error) {
    await runtime.close();
    throw error;
  }
  return createVectorsync(runtime, logger);
}

function createVectorsync(runtime: VectorsyncRuntime, logger: Logger): Vectorsync {
  const search = new SearchService(runtime);
  const reconciler = new Reconciler(runtime);
  const apiKeyAuthenticator = new ApiKeyAuthenticator(runtime.db, {
    cacheMs: runtime.config.server.apiKeyCacheMs,
  });
  const indexOperations = new IndexOperations(runtime, logger);
  const workers = new Set<VectorsyncWorkers>();
  const services = new Set<VectorsyncService>();
  let closing: Promise<void> | undefined;
  const assertOpen = () => {
    if (closing) throw new VectorsyncError(ErrorCode.InvalidRequest, 'this vectorsync has been closed');
  };

  const vectorsync: Vectorsync = {
    config: runtime.config,
    collections: Object.freeze([...runtime.collections.keys()]),

    async migrate() {
      assertOpen();
      const result = await migrate(runtime.db, logger);
      await runtime.refreshIndexes();
      return result;
    },

    async setup(request = {}) {
      assertOpen();
      await migrate(runtime.db, logger);
      await runtime.refreshIndexes();
      return setupCollections(runtime, request);
    },

    async enqueue(request, client) {
      assertOpen();
      runtime.collection(request.collection);
      return enqueueChange(client ?? runtime.db, request);
    },

    async search(request) {
      assertOpen();
      const { cursor, k, offset, filter, ...rest } = request;
      if (cursor !== undefined && offset !== undefined) {
        throw new VectorsyncError(ErrorCode.InvalidRequest, 'give either "offset" or "cursor", not both');
      }
      return search.search({
        ...rest,
        k: k ?? 10,
        offset: cursor !== undefined ? decodeCursor(cursor) : (offset ?? 0),
        ...(filter !== undefined && filter !== '' ? { filter } : {}),
      });
    },

    async reconcile(request) {
      assertOpen();
      return reconciler.run({ ...request, trigger: 'library' });
    },

    async status() {
      assertOpen();
      return readSyncStatus(runtime);
    },

    indexes: {
      async status(collection) {
        assertOpen();
        return indexOperations.status(collection);
      },
      async history(options = {}) {
        assertOpen();
        return indexOperations.history(options);
      },
      async build(request) {
        assertOpen();
        return indexOperations.build(withListeners(request));
      },
      async rebuild(request) {
        assertOpen();
        return indexOperations.rebuild(withListeners(request));
      },
      async rehearse(request) {
        assertOpen();
        return indexOperations.rehearse(withListeners(request));
      },
      async abort(request) {
        assertOpen();
        return indexOperations.abort(request);
      },
      async cleanUp(collection) {
        assertOpen();
        return indexOperations.cleanUp(collection);
      },
    },

    apiKeys: {
      async create(input) {
        assertOpen();
        return createApiKey(runtime.db, input);
      },
      async list() {
        assertOpen();
        return listApiKeys(runtime.db);
      },
      async revoke(prefixOrId) {
        assertOpen();
        const record = await revokeApiKey(runtime.db, prefixOrId);
        apiKeyAuthenticator.forget(record.prefix);
        return record;
      },
    },

    budgets: {
      async set(budget) {
        assertOpen();
        runtime.collection(budget.collection);
        if (!Number.isFinite(budget.limitUsd) || budget.limitUsd < 0)
          throw new VectorsyncError(
            ErrorCode.InvalidRequest,
            `limitUsd must be a number of US dollars, at least 0 (got ${budget.limitUsd})`,
          );
        await setBudget(runtime.db, { ...budget, tenant: budget.tenant ?? '' });
        runtime.budgets.invalidate(budget.collection);
      },
      async list(collection) {
        assertOpen();
        return budgetStandings(runtime.db, await listBudgets(runtime.db, collection), new Date());
      },
      async clear(scope) {
        assertOpen();
        const removed = await clearBudget(runtime.db, { ...scope, tenant: scope.tenant ?? '' });
        runtime.budgets.invalidate(scope.collection);
        return removed;
      },
    },

    async startWorkers(options = {}) {
      assertOpen();
      const selected = options.collections ?? [...runtime.collections.keys()];
      // Fail now, naming the collection, rather than in every batch: setup() has not run.
      for (const name of selected) runtime.activeTarget(name);
      const started = new SyncWorkers(runtime, logger, options.collections ? { collections: selected } : {});
      await runtime.warmUp();
      await started.start();
      let stopping: Promise<void> | undefined;
      const handle: VectorsyncWorkers = {
        get running() {
          return started.running;
        },
        stop() {
          stopping ??= started.stop().finally(() => workers.delete(handle));
          return stopping;
        },
      };
      workers.add(handle);
      return handle;
    },

    async serve(options = {}) {
      assertOpen();
      const runWorkers = options.workers ?? runtime.config.server.runWorkers;
      if (runWorkers) await runtime.warmUp();
      const running = await startService(runtime, logger, {
        runWorkers,
        apiKeys: apiKeyAuthenticator,
        ...(options.host !== undefined ? { host: options.host } : {}),
        ...(options.port !== undefined ? { port: options.port } : {}),
        ...(options.metricsPort !== undefined ? { metricsPort: options.metricsPort } : {}),
      });
      let stopping: Promise<void> | undefined;
      const service: VectorsyncService = {
        url: running.url,
        metricsUrl: running.metricsUrl,
        app: running.app,
        stop() {
          stopping ??= running.stop().finally(() => services.delete(service));
          return stopping;
        },
      };
      services.add(service);
      return service;
    },

    close() {
      closing ??= (async () => {
        reconciler.abort();
        for (const service of [...services]) await service.stop();
        for (const started of [...workers]) await started.stop();
        await runtime.close();
      })();
      return closing;
    },
  };

  internals.set(vectorsync, {
    runtime,
    logger,
    reconciler,
    apiKeys: apiKeyAuthenticator,
    workersRunning: () => (workers.size === 0 ? undefined : [...workers].every((started) => started.running)),
  });
  return vectorsync;
}

/** Turns the public listeners into the internal onStart hook on the operation's run. */
function withListeners<Request extends IndexBuildRequest>(
  request: Request,
): Omit<Request, keyof IndexOperationListeners> & Pick<IndexOperationRequest, 'onStart'> {
  const { onStart, onProgress, onWarning, onStep, ...rest } = request;
  if (!onStart && !onProgress && !onWarning && !onStep) return rest;
  return {
    ...rest,
    onStart: (run) => {
      onStart?.(run.operation);
      if (onWarning) {
        for (const warning of run.warnings) onWarning(warning);
        run.on('warning', onWarning);
      }
      if (onStep) run.on('step', onStep);
      if (onProgress) run.on('progress', onProgress);
    },
  };
}
