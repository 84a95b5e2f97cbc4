import type { FastifyInstance } from 'fastify';
import { ErrorCode, VectorsyncError } from '../../errors.js';
import type { ReconcileReport } from '../../reconcile/reconcile-report.js';
import { listReconcileRuns } from '../../reconcile/reconcile-runs.js';
import type { Reconciler } from '../../reconcile/reconciler.js';
import type { VectorsyncRuntime } from '../../runtime/vectorsync-runtime.js';
import { requireAdmin } from '../auth.js';
import { routeSchema } from '../schemas/common-schemas.js';
import {
  reconcileAbortResponseSchema,
  reconcileQuerystringSchema,
  reconcileRunResponseSchema,
  reconcileRunsResponseSchema,
} from '../schemas/ops-schemas.js';
import { parseInteger } from './search-routes.js';

interface ReconcileQuery {
  collection?: string;
  tenant?: string;
  fix?: string;
  dryRun?: string;
  limit?: string;
}

const knownParameters = new Set(['collection', 'tenant', 'fix', 'dryRun', 'limit']);

/**
 * Reconciliation endpoints (admin keys only). POST runs and answers with the reports when the
 * runs end; DELETE aborts this process's runs, which then end between pages with a report
 * marked aborted (the POST that started them receives it).
 */
export function registerReconcileRoutes(
  app: FastifyInstance,
  runtime: VectorsyncRuntime,
  reconciler: Reconciler,
): void {
  const contract = (summary: string, response: Parameters<typeof routeSchema>[0]['response']) =>
    routeSchema({
      key: 'admin',
      tag: 'reconcile',
      summary,
      querystring: reconcileQuerystringSchema,
      response,
    });

  app.post<{ Querystring: ReconcileQuery }>(
    '/v1/sync/reconcile',
    {
      schema: contract('Compare source and index (report, dry run or fix); answers when the runs end', {
        200: reconcileRunResponseSchema,
      }),
    },
    async (request) => {
      requireAdmin(request);
      const query = checkQuery(request.query);
      const fix = parseBoolean(query.fix, 'fix');
      const dryRun = parseBoolean(query.dryRun, 'dryRun');
      if (query.tenant !== undefined && query.tenant === '')
        throw new VectorsyncError(ErrorCode.InvalidRequest, 'parameter "tenant" must not be empty');
      const names =
        query.collection !== undefined
          ? [runtime.collection(query.collection).name]
          : [...runtime.collections.keys()];
      const reports: ReconcileReport[] = [];
      for (const collection of names) {
        reports.push(
          await reconciler.run({
            collection,
            mode: dryRun ? 'dry-run' : fix ? 'fix' : 'report',
            trigger: 'http',
            ...(query.tenant !== undefined ? { tenant: query.tenant } : {}),
          }),
        );
      }
      return { reports };
    },
  );

  app.delete<{ Querystring: ReconcileQuery }>(
    '/v1/sync/reconcile',
    {
      schema: contract("Abort this process's running reconciliations", { 200: reconcileAbortResponseSchema }),
    },
    async (request) => {
      requireAdmin(request);
      const query = checkQuery(request.query);
      if (query.collection !== undefined) runtime.collection(query.collection);
      return { aborted: reconciler.abort(query.collection) };
    },
  );

  app.get<{ Querystring: ReconcileQuery }>(
    '/v1/sync/reconcile',
    { schema: contract('Running and recent reconciliations', { 200: reconcileRunsResponseSchema }) },
    async (request) => {
      requireAdmin(request);
      const query = checkQuery(request.query);
      if (query.collection !== undefined) runtime.collection(query.collection);
      const limit = parseInteger(query.limit, 'limit', 20, 1);
      if (limit > 100)
        throw new VectorsyncError(ErrorCode.InvalidRequest, 'parameter "limit" must be from 1 to 100');
      const runs = await listReconcileRuns(runtime.db, {
        ...(query.collection !== undefined ? { collection: query.collection } : {}),
        limit,
      });
      return { running: reconciler.runningCollections(), runs };
    },
  );
}

function checkQuery(query: ReconcileQuery): ReconcileQuery {
  const unknown = Object.keys(query).filter((key) => !knownParameters.has(key));
  if (unknown.length > 0) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `unknown parameter ${unknown.map((key) => `"${key}"`).join(', ')} (known: ${[...knownParameters].join(', ')})`,
      { details: { parameters: unknown } },
    );
  }
  return query;
}

function parseBoolean(value: string | undefined, name: string): boolean {
  if (value === undefined || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1' || value === '') return true;
  throw new VectorsyncError(
    ErrorCode.InvalidRequest,
    `parameter "${name}" must be true or false (got "${value}")`,
    {
      details: { field: name, value },
    },
  );
}
