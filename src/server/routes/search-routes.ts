import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ErrorCode, VectorsyncError } from '../../errors.js';
import type { VectorsyncRuntime } from '../../runtime/vectorsync-runtime.js';
import {
  decodeCursor,
  MAX_CHUNKS_PER_HIT,
  type SearchMode,
  type SearchRequest,
  SearchService,
} from '../../search/search-service.js';
import { requireTenant } from '../auth.js';
import { routeSchema } from '../schemas/common-schemas.js';
import { collectionParamsSchema } from '../schemas/document-schemas.js';
import {
  type SearchBody,
  searchBodySchema,
  searchQuerystringSchema,
  searchResponseSchema,
} from '../schemas/search-schemas.js';

interface SearchQuery {
  q?: string;
  mode?: string;
  k?: string;
  offset?: string;
  cursor?: string;
  /** JSON text (query string), or the parsed value (POST body). */
  filter?: unknown;
  explain?: string;
  chunks?: string;
  fusion?: string;
  rrf_k?: string;
  w_semantic?: string;
  w_keyword?: string;
  normalization?: string;
}

/**
 * GET /v1/collections/:collection/search?q=&mode=&k=&offset=|cursor=&filter=&explain=
 * POST the same fields as a JSON body (for large filters). With `server.aliasCollection`
 * set, `/search`, `/search/semantic` and `/search/keyword` search that collection.
 */
export function registerSearchRoutes(app: FastifyInstance, runtime: VectorsyncRuntime): void {
  const search = new SearchService(runtime);
  const run = (request: FastifyRequest, collection: string, input: SearchQuery, forcedMode?: SearchMode) => {
    const tenant = requireTenant(request);
    return search.search(toSearchRequest(collection, tenant, input, forcedMode));
  };

  const contract = (summary: string, input: 'querystring' | 'body', params = true) =>
    routeSchema({
      key: 'tenant',
      tag: 'search',
      summary,
      ...(params ? { params: collectionParamsSchema } : {}),
      ...(input === 'querystring' ? { querystring: searchQuerystringSchema } : { body: searchBodySchema }),
      response: { 200: searchResponseSchema },
    });

  app.get<{ Params: { collection: string }; Querystring: SearchQuery }>(
    '/v1/collections/:collection/search',
    { schema: contract('Search a collection (semantic, keyword or hybrid)', 'querystring') },
    (request) => run(request, request.params.collection, request.query),
  );
  app.post<{ Params: { collection: string }; Body: SearchBody }>(
    '/v1/collections/:collection/search',
    { schema: contract('Search a collection, the request as a JSON body', 'body') },
    (request) => run(request, request.params.collection, bodyAsQuery(request.body)),
  );

  const alias = runtime.config.server.aliasCollection;
  if (alias && runtime.collections.has(alias)) {
    for (const [url, mode] of [
      ['/search', 'hybrid'],
      ['/search/semantic', 'semantic'],
      ['/search/keyword', 'keyword'],
    ] as const) {
      app.get<{ Querystring: SearchQuery }>(
        url,
        {
          schema: contract(
            `${mode} search of collection "${alias}" (server.aliasCollection)`,
            'querystring',
            false,
          ),
        },
        (request) => run(request, alias, request.query, mode),
      );
    }
  }
}

/**
 * The body's typed values (the schema checked their types and refused unknown fields) as the
 * query string's text, so both forms go through the same range checks.
 */
function bodyAsQuery(body: SearchBody): SearchQuery {
  const query: SearchQuery = {};
  for (const [key, value] of Object.entries(body) as Array<[keyof SearchBody, unknown]>) {
    if (value === undefined) continue;
    // The parsed filter as it is: parseFilter checks its depth before walking it (re-serialising
    // a deeply nested value would overflow the stack).
    (query as Record<string, unknown>)[key] = key === 'filter' ? value : String(value);
  }
  return query;
}

function toSearchRequest(
  collection: string,
  tenant: string,
  input: SearchQuery,
  forcedMode?: SearchMode,
): SearchRequest {
  if (input.offset !== undefined && input.cursor !== undefined) {
    throw new VectorsyncError(ErrorCode.InvalidRequest, 'give either "offset" or "cursor", not both');
  }
  const fusion: SearchRequest['fusion'] = {};
  if (input.fusion !== undefined) {
    if (input.fusion !== 'rrf' && input.fusion !== 'weighted') {
      throw new VectorsyncError(
        ErrorCode.InvalidRequest,
        `parameter "fusion" must be rrf or weighted (got "${input.fusion}")`,
        { details: { field: 'fusion' } },
      );
    }
    fusion.fusion = input.fusion;
  }
  if (input.normalization !== undefined) {
    if (input.normalization !== 'minmax' && input.normalization !== 'zscore') {
      throw new VectorsyncError(
        ErrorCode.InvalidRequest,
        `parameter "normalization" must be minmax or zscore (got "${input.normalization}")`,
        {
          details: { field: 'normalization' },
        },
      );
    }
    fusion.normalization = input.normalization;
  }
  if (input.rrf_k !== undefined) fusion.rrfK = parseInteger(input.rrf_k, 'rrf_k', 60, 1, MAX_RRF_K);
  if (input.w_semantic !== undefined || input.w_keyword !== undefined) {
    fusion.weights = {
      semantic: parseWeight(input.w_semantic, 'w_semantic'),
      keyword: parseWeight(input.w_keyword, 'w_keyword'),
    };
  }
  return {
    collection,
    tenant,
    query: input.q ?? '',
    mode: (forcedMode ?? input.mode ?? 'hybrid') as SearchMode,
    k: parseInteger(input.k, 'k', 10),
    offset: input.cursor !== undefined ? decodeCursor(input.cursor) : parseInteger(input.offset, 'offset', 0),
    ...(input.filter !== undefined && input.filter !== '' ? { filter: input.filter } : {}),
    explain: parseBoolean(input.explain, 'explain'),
    ...(input.chunks !== undefined && input.chunks !== ''
      ? { chunks: parseInteger(input.chunks, 'chunks', 1, 1, MAX_CHUNKS_PER_HIT) }
      : {}),
    ...(Object.keys(fusion).length > 0 ? { fusion } : {}),
  };
}

/** Bounds of the hybrid overrides: beyond them, scores stop being finite or meaningful. */
export const MAX_WEIGHT = 1e6;
export const MAX_RRF_K = 1e6;

export function parseInteger(
  value: string | undefined,
  name: string,
  fallback: number,
  min = Number.MIN_SAFE_INTEGER,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined || value === '') return fallback;
  const number = Number(value);
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(number) || number < min || number > max) {
    const range =
      max < Number.MAX_SAFE_INTEGER
        ? ` from ${min} to ${max}`
        : min > Number.MIN_SAFE_INTEGER
          ? ` ≥ ${min}`
          : '';
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `parameter "${name}" must be an integer${range} (got "${value}")`,
      {
        details: { field: name, value },
      },
    );
  }
  return number;
}

/** A decimal number (an exponent allowed, as JSON writes small numbers) from 0 to MAX_WEIGHT. */
function parseWeight(value: string | undefined, name: string): number {
  if (value === undefined) return 1;
  const weight = Number(value);
  // Number() alone reads "" as 0, "0x10" as 16 and " 1 " as 1.
  if (!/^(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(value) || !(weight <= MAX_WEIGHT)) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `parameter "${name}" must be a decimal number from 0 to ${MAX_WEIGHT} (got "${value}")`,
      { details: { field: name, value } },
    );
  }
  return weight;
}

function parseBoolean(value: string | undefined, name: string): boolean {
  if (value === undefined || value === '' || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1') return true;
  throw new VectorsyncError(
    ErrorCode.InvalidRequest,
    `parameter "${name}" must be true or false (got "${value}")`,
    { details: { field: name } },
  );
}
