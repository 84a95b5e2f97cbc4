import fc from 'fast-check';
import { filterArbitrary } from './filter-arbitrary.js';
import type { KeyKind } from './fuzz-world.js';
import {
  encodeSegment,
  hostileQueryPiece,
  hostileRawBody,
  hostileSegment,
  hostileString,
  hostileValue,
} from './hostile-values.js';
import {
  type JsonSchema,
  type OpenApiDocument,
  type Operation,
  type Parameter,
  resolveSchema,
} from './openapi-operations.js';
import { schemaArbitrary } from './schema-arbitrary.js';

/** One generated request, with what the invariants and the known-defect list look at. */
export interface FuzzRequest {
  operation: string;
  keyKind: KeyKind;
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string;
  /** The path parameters as sent (percent-encoded). */
  pathParameters: Record<string, string>;
  /** The query pairs as generated (before encoding; hostile pieces are raw). */
  query: Array<[string, string]>;
  /** The body's value when it was sent as JSON of a generated value. */
  body?: unknown;
}

export interface RequestContext {
  document: OpenApiDocument;
  keys: Record<KeyKind, string | undefined>;
  /** Strings for text the caller writes: its own ids and tenant, collection names, words. */
  pool: readonly string[];
  /** Ids to address documents by, per collection: every tenant's (to probe the others'). */
  ids: Record<string, readonly string[]>;
}

type HostilePart = 'path' | 'query' | 'body' | 'suffix';

/** Requests to `operation` with the key of `keyKind`: valid ones, and hostile in some part. */
export function requestArbitrary(
  operation: Operation,
  keyKind: KeyKind,
  context: RequestContext,
): fc.Arbitrary<FuzzRequest> {
  // A third valid; the others hostile in one part (so that the rest of the request gets past the
  // checks before it) or, now and then, in every part.
  const target = fc.constantFrom<HostilePart[]>(
    [],
    [],
    [],
    ['path'],
    ['query'],
    ['query'],
    ['body'],
    ['body'],
    ['suffix'],
    ['path', 'query', 'body', 'suffix'],
  );
  return target.chain((parts) =>
    pathArbitrary(operation, context, parts.includes('path')).chain((pathParameters) =>
      fc
        .record({
          query: queryArbitrary(
            operation,
            context,
            parts.includes('query'),
            decodeOrSelf(pathParameters.collection),
          ),
          body: bodyArbitrary(
            operation,
            context,
            parts.includes('body'),
            decodeOrSelf(pathParameters.collection),
          ),
          suffix: parts.includes('suffix') ? fc.constantFrom('/', '/..', '/%ff', '?', '//') : fc.constant(''),
          headers: keyHeaders(keyKind, context.keys[keyKind]),
        })
        .map(({ query, body, suffix, headers }): FuzzRequest => {
          let path = operation.path;
          for (const [name, value] of Object.entries(pathParameters)) path = path.replace(`{${name}}`, value);
          const queryText = query.map((pair) =>
            pair[0] === '' && pair[1].includes('=')
              ? pair[1]
              : `${encodeSegment(pair[0])}=${encodeSegment(pair[1])}`,
          );
          const url = `${path}${suffix}${queryText.length > 0 ? `?${queryText.join('&')}` : ''}`;
          return {
            operation: operation.label,
            keyKind,
            method: operation.method,
            url,
            headers: { ...headers, ...(body?.contentType ? { 'content-type': body.contentType } : {}) },
            ...(body ? { payload: body.payload } : {}),
            pathParameters,
            query,
            ...(body && 'value' in body ? { body: body.value } : {}),
          };
        }),
    ),
  );
}

/** The collection the path-less alias routes (/search…) search: the document's only one, or the first. */
function aliasCollection(context: RequestContext): string | undefined {
  return Object.keys(context.ids)[0];
}

function decodeOrSelf(segment: string | undefined): string | undefined {
  if (segment === undefined) return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function pathArbitrary(
  operation: Operation,
  context: RequestContext,
  hostile: boolean,
): fc.Arbitrary<Record<string, string>> {
  const collection = operation.pathParameters.find((parameter) => parameter.name === 'collection');
  const collections = (collection?.schema.enum as string[] | undefined) ?? [];
  const segment = (valid: fc.Arbitrary<string>) =>
    hostile
      ? fc.oneof({ weight: 3, arbitrary: valid.map(encodeSegment) }, { weight: 2, arbitrary: hostileSegment })
      : valid.map(encodeSegment);
  const first = collection
    ? segment(collections.length > 0 ? fc.constantFrom(...collections) : fc.string()).map((value) => ({
        collection: value,
      }))
    : fc.constant({} as Record<string, string>);
  return first.chain((chosen) => {
    const others = operation.pathParameters.filter((parameter) => parameter.name !== 'collection');
    if (others.length === 0) return fc.constant(chosen);
    const name = decodeOrSelf(chosen.collection) ?? '';
    // Own keys only: a hostile collection name such as "constructor" names no ids.
    const ids = Object.hasOwn(context.ids, name) ? context.ids[name]! : [];
    const id = fc.oneof(
      { weight: 3, arbitrary: ids.length > 0 ? fc.constantFrom(...ids) : fc.string() },
      {
        weight: 1,
        arbitrary: schemaArbitrary(
          { type: 'string' },
          { document: context.document, pool: context.pool, hostile: false },
        ) as fc.Arbitrary<string>,
      },
    );
    return fc.tuple(...others.map(() => segment(id))).map((values) => ({
      ...chosen,
      ...Object.fromEntries(others.map((parameter, index) => [parameter.name, values[index]!])),
    }));
  });
}

function queryArbitrary(
  operation: Operation,
  context: RequestContext,
  hostile: boolean,
  collection: string | undefined,
): fc.Arbitrary<Array<[string, string]>> {
  const options = { document: context.document, pool: context.pool, hostile: false };
  const value = (parameter: Parameter, hostileHere: boolean) => {
    if (parameter.name === 'filter')
      return filterArbitrary(
        context.document,
        collection ?? aliasCollection(context),
        context.pool,
        hostileHere,
      ).map((filter) => (typeof filter === 'string' ? filter : (JSON.stringify(filter) ?? '')));
    const valid = schemaArbitrary(parameter.schema, options).map(String);
    return hostileHere
      ? fc.oneof(
          { weight: 1, arbitrary: hostileString },
          // Near misses of the parameter's own schema (digits past int8 for an id, …).
          {
            weight: 2,
            arbitrary: schemaArbitrary(parameter.schema, { ...options, hostile: true }).map((value) =>
              typeof value === 'string' ? value : (JSON.stringify(value) ?? ''),
            ),
          },
        )
      : valid;
  };
  /** The parameters, valid but for `target` (always present, and hostile). */
  const parametersWith = (target: string | undefined) =>
    fc
      .tuple(
        ...operation.queryParameters.map((parameter) => {
          const hostileHere = parameter.name === target;
          const present = value(parameter, hostileHere).map(
            (text) => [[parameter.name, text]] as Array<[string, string]>,
          );
          if (parameter.required || hostileHere) return present;
          // Few optional parameters at once, so that valid requests stay valid as a whole; a
          // filter (its own generator) half the time.
          return fc.oneof(
            {
              weight: parameter.name === 'filter' ? 1 : 6,
              arbitrary: fc.constant([] as Array<[string, string]>),
            },
            { weight: 1, arbitrary: present },
          );
        }),
      )
      .map((groups) => groups.flat());
  const known = parametersWith(undefined);
  if (!hostile) return known;
  const names = operation.queryParameters.map((parameter) => parameter.name);
  // One kind of hostility at a time: an unknown parameter is refused before the values are
  // looked at, so mixing it in would hide every hostile value behind it.
  return fc.oneof(
    ...(names.length > 0
      ? [{ weight: 3, arbitrary: fc.constantFrom(...names).chain((target) => parametersWith(target)) }]
      : []),
    {
      weight: 1,
      // Raw pieces travel as they are (pair[0] === '' marks one).
      arbitrary: fc
        .tuple(
          known,
          fc.array(
            hostileQueryPiece.map((piece): [string, string] => [
              '',
              piece.includes('=') ? piece : `${piece}=`,
            ]),
            { minLength: 1, maxLength: 2 },
          ),
        )
        .map(([pairs, pieces]) => [...pairs, ...pieces]),
    },
    ...(names.length > 0
      ? [
          {
            weight: 1,
            // A known parameter given twice.
            arbitrary: fc
              .tuple(known, fc.constantFrom(...names), hostileString)
              .map(([pairs, name, text]): Array<[string, string]> => [...pairs, [name, text], [name, text]]),
          },
        ]
      : []),
  );
}

type GeneratedBody = { payload: string; contentType?: string; value?: unknown } | undefined;

function bodyArbitrary(
  operation: Operation,
  context: RequestContext,
  hostile: boolean,
  collection: string | undefined,
): fc.Arbitrary<GeneratedBody> {
  const json = (value: unknown) => ({
    payload: JSON.stringify(value) ?? 'null',
    contentType: 'application/json',
    value,
  });
  if (!operation.body) {
    // A body where none belongs.
    return hostile ? fc.option(hostileValue.map(json), { freq: 8, nil: undefined }) : fc.constant(undefined);
  }
  const options = { document: context.document, pool: context.pool, hostile };
  const schema = operation.body.schema;
  // A document body is one of the collections' schemas: mostly the one of the path's collection.
  const branches = schema.anyOf as JsonSchema[] | undefined;
  const own = branches?.find((branch) => branch.$ref === `#/components/schemas/${collection}Document`);
  const generated = own
    ? fc.oneof(
        { weight: 4, arbitrary: schemaArbitrary(own, options) },
        { weight: 1, arbitrary: schemaArbitrary(schema, options) },
      )
    : schemaArbitrary(schema, options);
  // A body with a `filter` field (search) gets one in the filter language half the time.
  const takesFilter = Boolean(
    (resolveSchema(context.document, schema).properties as Record<string, unknown> | undefined)?.filter,
  );
  const valid = takesFilter
    ? fc
        .tuple(
          generated,
          fc.option(
            filterArbitrary(context.document, collection ?? aliasCollection(context), context.pool, hostile),
            { nil: undefined },
          ),
        )
        .map(([body, filter]) =>
          filter === undefined || typeof body !== 'object' || body === null || Array.isArray(body)
            ? body
            : { ...body, filter },
        )
    : generated;
  if (!hostile) return valid.map(json);
  return fc.oneof(
    { weight: 6, arbitrary: valid.map(json) },
    { weight: 2, arbitrary: hostileRawBody },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
}

const malformedKeys = [
  'vs_not-a-key',
  'x',
  'vs_0000000000_short',
  'vs_ABCDEFGHIJ_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  `vs_${'a'.repeat(4000)}`,
  "' OR 1=1 --",
  'Basic dXNlcjpwYXNz',
];

function keyHeaders(keyKind: KeyKind, key: string | undefined): fc.Arbitrary<Record<string, string>> {
  if (keyKind === 'malformed')
    return fc.oneof(
      fc.constantFrom(...malformedKeys).map((malformed) => ({ authorization: `Bearer ${malformed}` })),
      fc.constantFrom(...malformedKeys).map((malformed) => ({ 'x-api-key': malformed })),
      fc.constantFrom<Record<string, string>>(
        { authorization: 'Bearer' },
        { authorization: 'Basic dXNlcjpwYXNz' },
        { 'x-api-key': '' },
      ),
    );
  if (key === undefined) return fc.constant({});
  return fc.constantFrom<Record<string, string>>(
    { authorization: `Bearer ${key}` },
    { 'x-api-key': key },
    { authorization: `bearer   ${key}  ` },
  );
}
