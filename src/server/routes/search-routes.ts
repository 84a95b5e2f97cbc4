import type { FastifyInstance } from 'fastify';
import { ErrorCode, VectorsyncError } from '../../errors.js';
import type { VectorsyncRuntime } from '../../runtime/vectorsync-runtime.js';
import { SearchService } from '../../search/search-service.js';
import { requireTenant } from '../auth.js';

interface SearchQuery {
  q?: string;
  k?: string;
}

export function registerSearchRoutes(app: FastifyInstance, runtime: VectorsyncRuntime): void {
  const search = new SearchService(runtime);
  app.get<{ Params: { collection: string }; Querystring: SearchQuery }>(
    '/v1/collections/:collection/search',
    async (request) => {
      const tenant = requireTenant(request);
      return search.search({
        collection: request.params.collection,
        tenant,
        query: request.query.q ?? '',
        k: parseInteger(request.query.k, 'k', 10),
      });
    },
  );
}

export function parseInteger(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  if (!/^-?\d+$/.test(value)) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `parameter "${name}" must be an integer (got "${value}")`,
      {
        details: { field: name, value },
      },
    );
  }
  return Number(value);
}
