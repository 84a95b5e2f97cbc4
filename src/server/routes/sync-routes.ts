import type { FastifyInstance } from 'fastify';
import { ErrorCode, VectorsyncError } from '../../errors.js';
import { listOutboxEvents, retryFailedEvents } from '../../outbox/outbox-admin.js';
import type { VectorsyncRuntime } from '../../runtime/vectorsync-runtime.js';
import { readSyncStatus } from '../../status/sync-status.js';
import { requireAdmin } from '../auth.js';
import { parseBigintId } from '../bigint-id.js';
import { routeSchema } from '../schemas/common-schemas.js';
import {
  eventsQuerystringSchema,
  eventsResponseSchema,
  retryBodySchema,
  retryResponseSchema,
  syncStatusSchema,
} from '../schemas/ops-schemas.js';
import { parseInteger } from './search-routes.js';

/** Operational endpoints: admin keys only. */
export function registerSyncRoutes(app: FastifyInstance, runtime: VectorsyncRuntime): void {
  app.get(
    '/v1/sync/status',
    {
      schema: routeSchema({
        key: 'admin',
        tag: 'sync',
        summary: 'Sync status: queues, lag, workers, the CDC slot',
        response: { 200: syncStatusSchema },
      }),
    },
    async (request) => {
      requireAdmin(request);
      return readSyncStatus(runtime);
    },
  );

  app.get<{ Querystring: { status?: string; collection?: string; before?: string; limit?: string } }>(
    '/v1/sync/events',
    {
      schema: routeSchema({
        key: 'admin',
        tag: 'sync',
        summary: 'Outbox events, newest first (failed ones with their errors)',
        querystring: eventsQuerystringSchema,
        response: { 200: eventsResponseSchema },
      }),
    },
    async (request) => {
      requireAdmin(request);
      const { status, collection } = request.query;
      if (collection !== undefined) runtime.collection(collection);
      const before =
        request.query.before === undefined
          ? undefined
          : parseBigintId(request.query.before, 'parameter "before"', ErrorCode.InvalidRequest);
      const limit = parseInteger(request.query.limit, 'limit', 100);
      if (limit < 1 || limit > 1000)
        throw new VectorsyncError(ErrorCode.InvalidRequest, 'parameter "limit" must be from 1 to 1000');
      const events = await listOutboxEvents(runtime.db, {
        ...(status !== undefined ? { status } : {}),
        ...(collection !== undefined ? { collection } : {}),
        ...(before !== undefined ? { beforeId: before } : {}),
        limit,
      });
      return { events, next: events.length === limit ? events.at(-1)!.id : null };
    },
  );

  app.post<{ Body: { ids?: unknown; collection?: unknown } | null }>(
    '/v1/sync/events/retry',
    {
      schema: routeSchema({
        key: 'admin',
        tag: 'sync',
        summary: 'Queue failed events again: by id, by collection, or all',
        body: retryBodySchema,
        response: { 200: retryResponseSchema },
      }),
    },
    async (request) => {
      requireAdmin(request);
      const body = request.body ?? {};
      if (typeof body !== 'object' || Array.isArray(body))
        throw new VectorsyncError(ErrorCode.MalformedBody, 'body must be a JSON object');
      const unknown = Object.keys(body).filter((key) => key !== 'ids' && key !== 'collection');
      if (unknown.length > 0) {
        throw new VectorsyncError(
          ErrorCode.UnknownField,
          `unknown field ${unknown.map((key) => `"${key}"`).join(', ')}`,
          { details: { fields: unknown } },
        );
      }
      if (body.ids !== undefined) {
        if (!Array.isArray(body.ids) || body.ids.length === 0) {
          throw new VectorsyncError(
            ErrorCode.InvalidFieldValue,
            'field "ids" must be a non-empty array of event ids',
          );
        }
        const ids = body.ids.map((id) =>
          parseBigintId(id, 'each of field "ids"', ErrorCode.InvalidFieldValue),
        );
        return retryFailedEvents(runtime.db, { ids });
      }
      if (body.collection !== undefined) {
        if (typeof body.collection !== 'string')
          throw new VectorsyncError(ErrorCode.InvalidFieldValue, 'field "collection" must be a string');
        runtime.collection(body.collection);
        return retryFailedEvents(runtime.db, { collection: body.collection });
      }
      return retryFailedEvents(runtime.db, {});
    },
  );
}
