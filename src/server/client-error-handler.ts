import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ServerConfig } from '../config/config-schema.js';
import { ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ErrorBody } from './http-errors.js';
import { requestIdHeader, requestIdOfRaw } from './request-id.js';

interface ClientError extends Error {
  code?: string;
}

/**
 * Errors Node's HTTP parser and timeouts raise on a connection before (or while) a request
 * reaches Fastify: answered in our envelope with a stable code, then the socket is closed
 * (Node's and Fastify's defaults answer with bodies of their own).
 */
export function clientErrorHandler(config: ServerConfig, logger: Logger) {
  return (error: ClientError, socket: Socket): void => {
    // A reset connection has no one left to answer.
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    // A request whose headers arrived (a slow body) already has an id; its response has not started.
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
    if (inFlight?.headersSent) {
      socket.destroy(error);
      return;
    }
    const requestId = requestIdOfRaw(inFlight?.req as IncomingMessage | undefined) ?? randomUUID();
    const { status, reason, code, message } = describe(error, config);
    logger.info({ requestId, status, code, err: error.message }, 'client error');
    const body = JSON.stringify({ error: { code, message, details: {}, requestId } } satisfies ErrorBody);
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `${requestIdHeader}: ${requestId}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
      // A client still trickling a body would otherwise keep the socket open.
      () => socket.destroy(),
    );
  };
}

function describe(
  error: ClientError,
  config: ServerConfig,
): { status: number; reason: string; code: ErrorCode; message: string } {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        status: 408,
        reason: 'Request Timeout',
        code: ErrorCode.RequestTimeout,
        message: `the request was not received within ${config.requestTimeoutMs} ms (server.requestTimeoutMs; headers within ${config.headersTimeoutMs} ms, server.headersTimeoutMs)`,
      };
    case 'HPE_HEADER_OVERFLOW':
      return {
        status: 431,
        reason: 'Request Header Fields Too Large',
        code: ErrorCode.HeadersTooLarge,
        message: `the request line and headers exceed ${config.maxHeaderBytes} bytes (server.maxHeaderBytes)`,
      };
    default:
      return {
        status: 400,
        reason: 'Bad Request',
        code: ErrorCode.MalformedRequest,
        message: `the request is not valid HTTP (${error.code ?? 'parse error'})`,
      };
  }
}
