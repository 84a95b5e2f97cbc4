import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { LightMyRequestResponse } from 'fastify';
import { type KeyKind, matchedRouteHeader } from './fuzz-world.js';
import { type OpenApiDocument, type Operation, operationsOf } from './openapi-operations.js';
import type { FuzzRequest } from './request-arbitrary.js';
import { changedParts, type Snapshot } from './state-snapshot.js';

/** One broken invariant of one answer. */
export interface Violation {
  invariant:
    | 'no-5xx'
    | 'error-envelope'
    | 'no-database-text'
    | 'tenant-isolation'
    | 'no-write-on-reject'
    | 'response-schema';
  detail: string;
}

/** Driver and database text, stack traces: none of it may reach a client. */
const databaseText: readonly RegExp[] = [
  /SQLSTATE/i,
  /syntax error/i,
  /violates/i,
  /\brelation "/i,
  /column "/i,
  /\bpg_/i,
  /duplicate key/i,
  /invalid input syntax/i,
  /invalid byte sequence/i,
  /out of range for type/i,
  /unterminated quoted/i,
  /\n\s+at \S+ \(/,
  /node_modules/,
  /\.[jt]s:\d+:\d+/,
];

export interface InvariantContext {
  document: OpenApiDocument;
  /** Text only each tenant's data contains (its name, markers, seeded ids). */
  tells: { tenantA: readonly string[]; tenantB: readonly string[] };
  tenantNames: { tenantA: string; tenantB: string };
}

export class ResponseInvariants {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: false, validateSchema: false });
  private readonly validators = new Map<string, ValidateFunction>();

  private readonly operations: Map<string, Operation>;

  constructor(private readonly context: InvariantContext) {
    this.operations = new Map(
      operationsOf(context.document).map((operation) => [operation.label, operation]),
    );
    addFormats.default(this.ajv);
    this.ajv.addSchema({ ...context.document, $id: 'openapi.json' } as never);
  }

  /**
   * The invariants of one answer. `operation` is the one the request was generated for; the
   * schema checks use the operation that really answered (an odd path may reach another
   * route, or none: then only the not-found envelope is right).
   */
  check(
    request: FuzzRequest,
    response: LightMyRequestResponse,
    before: Snapshot,
    after: Snapshot,
  ): Violation[] {
    const violations: Violation[] = [];
    const route = String(response.headers[matchedRouteHeader] ?? '');
    const operation = this.operations.get(`${request.method} ${route.replace(/:([A-Za-z_]+)/g, '{$1}')}`);
    const status = response.statusCode;
    const body = response.body;
    const requestText = textOf(request);

    if (status >= 500) violations.push({ invariant: 'no-5xx', detail: `status ${status}` });

    for (const pattern of databaseText) {
      if (pattern.test(body) && !pattern.test(requestText))
        violations.push({ invariant: 'no-database-text', detail: `the answer matches ${pattern}` });
    }

    for (const tell of this.forbiddenTells(request.keyKind)) {
      if (body.includes(tell) && !requestText.includes(tell))
        violations.push({
          invariant: 'tenant-isolation',
          detail: `a ${request.keyKind} key's answer contains "${tell}"`,
        });
    }

    const changed = changedParts(before, after);
    const anonymous = ['none', 'malformed', 'unknown', 'revoked'].includes(request.keyKind);
    const rejected = changed.filter(() => status >= 400 || anonymous);
    if (rejected.length > 0)
      violations.push({
        invariant: 'no-write-on-reject',
        detail: `status ${status} changed ${rejected.join(', ')}`,
      });
    const otherTenant =
      request.keyKind === 'tenantA'
        ? this.context.tenantNames.tenantB
        : request.keyKind === 'tenantB'
          ? this.context.tenantNames.tenantA
          : undefined;
    const crossed = changed.filter(
      (part) => otherTenant !== undefined && part.endsWith(` of ${otherTenant}`),
    );
    if (crossed.length > 0)
      violations.push({
        invariant: 'tenant-isolation',
        detail: `a ${request.keyKind} key's request (status ${status}) changed ${crossed.join(', ')}`,
      });

    if (status >= 400) violations.push(...this.envelope(response));
    if (!operation) {
      // Not found, a URL refused before routing (400, or 414 over server.maxUrlLength), or a body
      // refused before routing could answer that (413, 415).
      if (![400, 404, 413, 414, 415].includes(status))
        violations.push({
          invariant: 'response-schema',
          detail: `status ${status} from no route (${route || 'unmatched'})`,
        });
      return violations;
    }
    const documented = operation.responses.has(status);
    if (!documented)
      violations.push({
        invariant: 'response-schema',
        detail: `status ${status} is not documented for ${operation.label}`,
      });
    else if (status < 400) violations.push(...this.matchesSchema(operation, status, response));
    return violations;
  }

  private forbiddenTells(keyKind: KeyKind): readonly string[] {
    switch (keyKind) {
      case 'tenantA':
        return this.context.tells.tenantB;
      case 'tenantB':
        return this.context.tells.tenantA;
      case 'admin':
        // Operational endpoints list every tenant's events and runs by design.
        return [];
      default:
        return [...this.context.tells.tenantA, ...this.context.tells.tenantB];
    }
  }

  private envelope(response: LightMyRequestResponse): Violation[] {
    let parsed: unknown;
    try {
      parsed = JSON.parse(response.body);
    } catch {
      return [{ invariant: 'error-envelope', detail: `the body is not JSON: ${shorten(response.body)}` }];
    }
    const validate = this.validator('openapi.json#/components/schemas/Error');
    if (!validate(parsed))
      return [
        {
          invariant: 'error-envelope',
          detail: `${this.ajv.errorsText(validate.errors)}: ${shorten(response.body)}`,
        },
      ];
    const error = (parsed as { error: { requestId: string } }).error;
    const header = response.headers['x-request-id'];
    if (header !== undefined && header !== error.requestId)
      return [
        {
          invariant: 'error-envelope',
          detail: `requestId ${error.requestId} is not the x-request-id ${String(header)}`,
        },
      ];
    return [];
  }

  private matchesSchema(operation: Operation, status: number, response: LightMyRequestResponse): Violation[] {
    const content = operation.responses.get(status);
    if (content === null) {
      return response.body === ''
        ? []
        : [
            {
              invariant: 'response-schema',
              detail: `status ${status} documents no body, got ${shorten(response.body)}`,
            },
          ];
    }
    const contentType = String(response.headers['content-type'] ?? '');
    const mediaType = (type: string) => type.split(';')[0]!.trim().toLowerCase();
    const documented = Object.keys(content ?? {}).find((type) => mediaType(type) === mediaType(contentType));
    if (documented === undefined)
      return [
        {
          invariant: 'response-schema',
          detail: `content-type ${contentType} is not documented (${Object.keys(content ?? {}).join(', ')})`,
        },
      ];
    let parsed: unknown = response.body;
    if (mediaType(contentType) === 'application/json') {
      try {
        parsed = JSON.parse(response.body);
      } catch {
        return [{ invariant: 'response-schema', detail: `the body is not JSON: ${shorten(response.body)}` }];
      }
    }
    const pointer = [
      'paths',
      operation.path,
      operation.method.toLowerCase(),
      'responses',
      String(status),
      'content',
      documented,
      'schema',
    ]
      .map((part) => part.replaceAll('~', '~0').replaceAll('/', '~1'))
      .join('/');
    const validate = this.validator(`openapi.json#/${pointer}`);
    return validate(parsed)
      ? []
      : [
          {
            invariant: 'response-schema',
            detail: `${this.ajv.errorsText(validate.errors)}: ${shorten(response.body)}`,
          },
        ];
  }

  private validator(ref: string): ValidateFunction {
    let validate = this.validators.get(ref);
    if (!validate) {
      validate = this.ajv.compile({ $ref: ref });
      this.validators.set(ref, validate);
    }
    return validate;
  }
}

/** The request as text, decoded where it decodes: what an echo in the answer may repeat. */
export function textOf(request: FuzzRequest): string {
  // Each run of escapes on its own: one malformed escape must not hide the rest.
  const decoded = request.url.replace(/(%[0-9a-f]{2})+/gi, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
  return [request.url, decoded, request.payload ?? '', JSON.stringify(request.headers)].join('\n');
}

export function shorten(text: string, limit = 600): string {
  return text.length > limit ? `${text.slice(0, limit)}… (${text.length} chars)` : text;
}
