import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyRequest } from 'fastify';

export const requestIdHeader = 'x-request-id';
const maxLength = 128;
/** Printable ASCII without spaces: safe in a header, a log line and a URL. */
const printable = /^[\x21-\x7e]+$/;

export function isValidRequestId(value: unknown): value is string {
  return typeof value === 'string' && value.length <= maxLength && printable.test(value);
}

const byRawRequest = new WeakMap<IncomingMessage, string>();

/**
 * Our server's genReqId: the caller's `x-request-id` when it is a valid one, else a new UUID,
 * so an invalid id is never echoed.
 */
export function requestIdFor(raw: IncomingMessage): string {
  const presented = raw.headers[requestIdHeader];
  const id = isValidRequestId(presented) ? presented : randomUUID();
  byRawRequest.set(raw, id);
  return id;
}

/** The id given to a request still being received (for an error Node reports on its socket). */
export function requestIdOfRaw(raw: IncomingMessage | undefined): string | undefined {
  return raw ? byRawRequest.get(raw) : undefined;
}

const assigned = new WeakMap<FastifyRequest, string>();

/**
 * The id our envelope, logs and `x-request-id` header use. Our own server's genReqId already
 * made `request.id` this id; in an application's Fastify (plugin mode) the app's id is kept
 * unless the caller sent a valid one or the app's id is not fit for a header.
 */
export function requestIdOf(request: FastifyRequest): string {
  let id = assigned.get(request);
  if (id === undefined) {
    const presented = request.headers[requestIdHeader];
    const own = String(request.id);
    id = isValidRequestId(presented) ? presented : isValidRequestId(own) ? own : randomUUID();
    assigned.set(request, id);
  }
  return id;
}
