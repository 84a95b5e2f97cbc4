import type { FastifyRequest } from 'fastify';
import { ErrorCode, VectorsyncError } from '../errors.js';
import type { ApiKeyAuthenticator } from './api-key-authenticator.js';
import type { Principal } from './api-keys.js';
import type { KeyRequirement } from './schemas/common-schemas.js';
import { assertTenantName } from './tenant-name.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** Why the presented key was refused; answered after rate limiting (see `authenticationHooks`). */
    authenticationError?: VectorsyncError;
    /** Set by `requireTenant`: the tenant a data endpoint acts for, and whether a header named it. */
    actingTenant?: { tenant: string; fromHeader: boolean };
  }
}

/** A service or admin key names the tenant a data request acts for in this header. */
export const tenantHeader = 'x-vectorsync-tenant';

export function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header?.toLowerCase().startsWith('bearer ')) return header.slice(7).trim();
  const apiKey = request.headers['x-api-key'];
  return typeof apiKey === 'string' ? apiKey.trim() : undefined;
}

/**
 * `identify` (onRequest) resolves the key to `request.principal` or records why it was
 * refused; `enforce` (preParsing) answers the refusal. Between them the rate limiter runs, so
 * that refused requests count against their client's address and accepted ones against their
 * key. Paths for which `isPublic` holds need no key.
 */
export function authenticationHooks(
  authenticator: ApiKeyAuthenticator,
  isPublic: (request: FastifyRequest) => boolean,
) {
  return {
    async identify(request: FastifyRequest): Promise<void> {
      if (isPublic(request)) return;
      const lookup = await authenticator.authenticate(presentedKey(request));
      if (lookup.ok) request.principal = lookup.principal;
      else request.authenticationError = lookup.error;
    },
    async enforce(request: FastifyRequest, _reply: unknown, payload: unknown): Promise<unknown> {
      if (request.authenticationError) throw request.authenticationError;
      return payload;
    },
  };
}

/**
 * Data endpoints act for exactly one tenant: a tenant key's own, or the one a service or admin
 * key names in the `x-vectorsync-tenant` header. A tenant key may send the header only with
 * its own tenant.
 */
export function requireTenant(request: FastifyRequest): string {
  const principal = request.principal;
  if (!principal) throw new VectorsyncError(ErrorCode.Unauthenticated, 'missing API key');
  const named = namedTenant(request);
  if (principal.kind === 'tenant' && principal.tenant) {
    if (named !== undefined && named !== principal.tenant) {
      throw new VectorsyncError(
        ErrorCode.TenantMismatch,
        `this API key acts for tenant "${principal.tenant}" only; the ${tenantHeader} header names "${named}"`,
        { details: { tenant: named, keyTenant: principal.tenant } },
      );
    }
    request.actingTenant = { tenant: principal.tenant, fromHeader: false };
    return principal.tenant;
  }
  if (named === undefined) {
    throw new VectorsyncError(
      ErrorCode.TenantRequired,
      `this endpoint acts for one tenant: with a ${principal.kind} API key, name it in the ${tenantHeader} header`,
      { details: { header: tenantHeader } },
    );
  }
  request.actingTenant = { tenant: named, fromHeader: true };
  return named;
}

function namedTenant(request: FastifyRequest): string | undefined {
  const value = request.headers[tenantHeader];
  if (value === undefined) return undefined;
  if (Array.isArray(value)) {
    throw new VectorsyncError(
      ErrorCode.InvalidRequest,
      `send the ${tenantHeader} header once, not ${value.length} times`,
      { details: { header: tenantHeader } },
    );
  }
  assertTenantName(value, `${tenantHeader} header`);
  return value;
}

export function requireAdmin(request: FastifyRequest): Principal {
  const principal = request.principal;
  if (!principal) throw new VectorsyncError(ErrorCode.Unauthenticated, 'missing API key');
  if (principal.kind !== 'admin')
    throw new VectorsyncError(
      ErrorCode.Forbidden,
      `this operational endpoint needs an admin API key, not a ${principal.kind} key`,
    );
  return principal;
}

/** The matched route's `x-vectorsync-key` (its contract); undefined for no route or no contract. */
export function keyRequirementOf(request: FastifyRequest): KeyRequirement | undefined {
  const schema = request.routeOptions.schema as Record<string, unknown> | undefined;
  return schema?.['x-vectorsync-key'] as KeyRequirement | undefined;
}
