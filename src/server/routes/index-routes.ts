import type { FastifyInstance } from 'fastify';
import { ErrorCode, VectorsyncError } from '../../errors.js';
import { readIndexStatus, summarize } from '../../indexops/index-status.js';
import { listOperations } from '../../indexops/operation-history.js';
import type { VectorsyncRuntime } from '../../runtime/vectorsync-runtime.js';
import { requireAdmin } from '../auth.js';
import { parseBigintId } from '../bigint-id.js';
import { routeSchema } from '../schemas/common-schemas.js';
import { collectionParamsSchema } from '../schemas/document-schemas.js';
import {
  indexHistoryQuerystringSchema,
  indexHistoryResponseSchema,
  indexStatusSchema,
} from '../schemas/ops-schemas.js';
import { parseInteger } from './search-routes.js';

/**
 * Index operations as a running service sees them (admin keys): the ANN indexes, the running
 * operation's progress as its owner last recorded it (whichever process runs it), problems.
 * Read-only: builds, rebuilds and aborts are CLI commands (`vectorsync index …`).
 */
export function registerIndexRoutes(app: FastifyInstance, runtime: VectorsyncRuntime): void {
  app.get<{ Params: { collection: string } }>(
    '/v1/indexes/:collection/status',
    {
      schema: routeSchema({
        key: 'admin',
        tag: 'indexes',
        summary: "A collection's ANN indexes and the running operation's progress",
        params: collectionParamsSchema,
        response: { 200: indexStatusSchema },
      }),
    },
    async (request) => {
      requireAdmin(request);
      return readIndexStatus(runtime, request.params.collection);
    },
  );

  app.get<{ Params: { collection: string }; Querystring: { limit?: string; before?: string } }>(
    '/v1/indexes/:collection/history',
    {
      schema: routeSchema({
        key: 'admin',
        tag: 'indexes',
        summary: 'Index operations of a collection, newest first',
        params: collectionParamsSchema,
        querystring: indexHistoryQuerystringSchema,
        response: { 200: indexHistoryResponseSchema },
      }),
    },
    async (request) => {
      requireAdmin(request);
      const { collection } = request.params;
      runtime.collection(collection);
      const limit = parseInteger(request.query.limit, 'limit', 20);
      if (limit < 1 || limit > 500)
        throw new VectorsyncError(ErrorCode.InvalidRequest, 'parameter "limit" must be from 1 to 500');
      const before =
        request.query.before === undefined
          ? undefined
          : parseBigintId(request.query.before, 'parameter "before"', ErrorCode.InvalidRequest);
      const operations = await listOperations(runtime.db, {
        collection,
        limit,
        ...(before !== undefined ? { beforeId: before } : {}),
      });
      return {
        operations: operations.map((operation) => ({
          ...summarize(operation),
          settings: operation.settings,
          criteria: operation.criteria,
          result: operation.result,
        })),
        next: operations.length === limit ? String(operations.at(-1)!.id) : null,
      };
    },
  );
}
