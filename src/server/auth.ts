import type { FastifyRequest } from 'fastify';
import { ErrorCode, VectorsyncError } from '../errors.js';
import type { Principal } from './api-keys.js';
import type { KeyRequirement } from './schemas/common-schemas.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

export function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header?.toLowerCase().startsWith('bearer ')) return header.slice(7).trim();
  const apiKey = request.headers['x-api-key'];
  return typeof apiKey === 'string' ? apiKey.trim() : undefined;
}

/** Data endpoints act for exactly one tenant: the one the key is bound to. */
export function requireTenant(request: FastifyRequest): string {
  const principal = request.principal;
  if (!principal) throw new VectorsyncError(ErrorCode.Unauthenticated, 'missing API key');
  if (!principal.tenant) {
    throw new VectorsyncError(
      ErrorCode.TenantRequired,
      'this endpoint acts for one tenant; use an API key bound to a tenant (admin keys are for operational endpoints)',
    );
  }
  return principal.tenant;
}

export function requireAdmin(request: FastifyRequest): Principal {
  const principal = request.principal;
  if (!principal) throw new VectorsyncError(ErrorCode.Unauthenticated, 'missing API key');
  if (!principal.admin)
    throw new VectorsyncError(ErrorCode.Forbidden, 'this operational endpoint needs an admin API key');
  return principal;
}

/** The matched route's `x-vectorsync-key` (its contract); undefined for no route or no contract. */
export function keyRequirementOf(request: FastifyRequest): KeyRequirement | undefined {
  const schema = request.routeOptions.schema as Record<string, unknown> | undefined;
  return schema?.['x-vectorsync-key'] as KeyRequirement | undefined;
}
