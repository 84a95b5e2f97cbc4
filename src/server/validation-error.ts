import type { FastifyError, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { ErrorCode, VectorsyncError } from '../errors.js';

type Context = 'body' | 'querystring' | 'params' | 'headers';

const nouns: Record<Context, string> = {
  body: 'field',
  querystring: 'parameter',
  params: 'path segment',
  headers: 'header',
};

/**
 * A request that its route's schema refused, as our error: UNKNOWN_FIELD for names the route
 * does not know, MALFORMED_BODY for a body that is not the JSON object expected, else
 * INVALID_REQUEST naming the parameter or field, what it must be and what it was.
 */
export function validationError(error: unknown, request: FastifyRequest): VectorsyncError | undefined {
  if (!hasZodFastifySchemaValidationErrors(error)) return undefined;
  const context = ((error as FastifyError).validationContext ?? 'body') as Context;
  const issues = error.validation;
  const first = issues[0]!;
  const path = first.instancePath.split('/').filter(Boolean);
  const noun = nouns[context];
  const input = (request as unknown as Record<string, unknown>)[
    context === 'querystring' ? 'query' : context
  ];

  if (first.keyword === 'unrecognized_keys') {
    const keys = (first.params as { keys?: string[] }).keys ?? [];
    return new VectorsyncError(
      ErrorCode.UnknownField,
      `unknown ${noun}${keys.length > 1 ? 's' : ''} ${keys.map((key) => `"${shorten(key)}"`).join(', ')}`,
      { details: { [context === 'querystring' ? 'parameters' : 'fields']: keys } },
    );
  }
  if (path.length === 0) {
    return new VectorsyncError(
      context === 'body' ? ErrorCode.MalformedBody : ErrorCode.InvalidRequest,
      context === 'body' ? `request body: ${first.message}` : `${context}: ${first.message}`,
      { details: { issues: issues.map(issueDetails) } },
    );
  }
  const name = path.join('.');
  const value = valueAt(input, path);
  // Our own messages read on from the name ("must be …"); zod's are sentences of their own.
  const message = /^(must|is) /.test(first.message ?? '') ? ` ${first.message}` : `: ${first.message}`;
  const limit = (first.params as { maximum?: unknown }).maximum;
  return new VectorsyncError(
    ErrorCode.InvalidRequest,
    `${noun} "${shorten(name)}"${message}${value === undefined ? '' : ` (got ${describe(value)})`}`,
    {
      details: {
        field: name,
        ...(typeof limit === 'number' ? { limit } : {}),
        issues: issues.map(issueDetails),
      },
    },
  );
}

function issueDetails(issue: { instancePath: string; keyword: string; message?: string | undefined }) {
  return { path: issue.instancePath, code: issue.keyword, message: issue.message };
}

function valueAt(input: unknown, path: string[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** A short, safe rendering of a client's value: never its own toString, never unbounded. */
function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(shorten(value));
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return typeof value === 'object' ? 'an object' : typeof value;
}

function shorten(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}
