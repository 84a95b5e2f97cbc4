import { z } from 'zod';

/**
 * Who may call a route: `none` (no key), `tenant` (a data endpoint: acts for one tenant) or
 * `admin` (an operational endpoint). The OpenAPI document carries it as `x-vectorsync-key`, and
 * the HTTP fuzzing suite reads it from there.
 */
export type KeyRequirement = 'none' | 'tenant' | 'admin';

export const errorEnvelopeSchema = z
  .strictObject({
    error: z.strictObject({
      code: z.string().describe('A stable, machine-readable code (see docs/http-api.md#errors)'),
      message: z.string().describe('A sentence for humans; it names the offending value'),
      details: z.record(z.string(), z.unknown()),
      requestId: z.string().describe('The request id, as in the x-request-id response header'),
    }),
  })
  .meta({ id: 'Error' });

// 413 and 415 refuse a request body: tenant and admin routes include POST and DELETE ones that
// Fastify reads a body for even when they declare none.
// 414 (a URL over server.maxUrlLength) can meet any route.
const errorStatuses = {
  tenant: [400, 401, 403, 404, 409, 413, 414, 415, 429, 503],
  admin: [400, 401, 403, 404, 409, 413, 414, 415, 429, 503],
  none: [400, 414, 503],
} as const satisfies Record<KeyRequirement, readonly number[]>;

/** Refusals of a request body, possible wherever a route takes one. */
const bodyErrorStatuses = [413, 415] as const;

/** An answer that is not JSON, by its media type. */
interface ContentResponse {
  description: string;
  content: Record<string, { schema: z.ZodType }>;
}

interface RouteContract {
  key: KeyRequirement;
  tag: string;
  summary: string;
  description?: string;
  params?: z.ZodType;
  querystring?: z.ZodType;
  body?: z.ZodType;
  /** Success responses by status: JSON, or (`content`) of another media type. */
  response: Record<number, z.ZodType | ContentResponse>;
}

/**
 * A route's schema: what it accepts (validated before the handler runs), what it answers, who
 * may call it (`security` and `x-vectorsync-key`) and its errors, all in the one envelope. The
 * OpenAPI document is generated from these.
 */
export function routeSchema(contract: RouteContract) {
  const { key, tag, response, ...rest } = contract;
  const errors = Object.fromEntries(
    [...new Set([...errorStatuses[key], ...(rest.body ? bodyErrorStatuses : []), 500])].map((status) => [
      status,
      errorEnvelopeSchema,
    ]),
  );
  return {
    ...rest,
    tags: [tag],
    'x-vectorsync-key': key,
    security: (key === 'none' ? [] : [{ bearerKey: [] }, { headerKey: [] }]) as Array<
      Record<string, string[]>
    >,
    response: { ...errors, ...response },
  };
}

/** Query-string integers travel as text; the handler checks their range and names them. */
export const integerText = z.string({ error: 'must be an integer' }).regex(/^-?\d+$/, 'must be an integer');
/** Event and operation ids are bigint: decimal text, never a JavaScript number. */
export const idText = z.string({ error: 'must be a decimal id' }).regex(/^\d{1,19}$/, 'must be a decimal id');
export const booleanText = z.enum(['true', 'false', '1', '0', ''], { error: 'must be true or false' });

/** One of `values`, with a message that lists them. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `must be one of ${values.join(', ')}` });
}
