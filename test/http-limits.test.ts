import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { silentLogger } from '../src/logger.js';
import type { VectorsyncRuntime } from '../src/runtime/vectorsync-runtime.js';
import { createApiKey } from '../src/server/api-keys.js';
import { createServer } from '../src/server/create-server.js';
import {
  createProductsTable,
  insertProducts,
  openProductsRuntime,
  products,
  productsConfig,
} from './helpers/products-fixture.js';
import { createTestDatabase, type TestDatabase } from './helpers/test-environment.js';
import { waitFor } from './helpers/wait-for.js';

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** From the first byte written to the socket's close. */
  closedAfterMs: number;
}

const limits = {
  requestTimeoutMs: 400,
  headersTimeoutMs: 300,
  handlerTimeoutMs: 1000,
  maxUrlLength: 256,
  maxHeaderBytes: 2048,
};

/**
 * Talks HTTP by hand on a real socket: `drive` writes (and may keep writing until `closed`);
 * resolves with what the server wrote once it closes the connection.
 */
function exchange(
  port: number,
  drive: (socket: Socket, closed: () => boolean) => void,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let closed = false;
    let started = 0;
    socket.on('connect', () => {
      started = performance.now();
      drive(socket, () => closed);
    });
    socket.on('data', (chunk) => chunks.push(chunk));
    // Writes racing the server's close fail with EPIPE/ECONNRESET: the close below still reports.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split('\r\n\r\n', 2);
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const status = Number(statusLine.split(' ')[1]);
      if (!status) return reject(new Error(`no HTTP response before close: ${JSON.stringify(text)}`));
      const headers: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status, headers, body, closedAfterMs: performance.now() - started });
    });
  });
}

function envelope(response: RawResponse): { code: string; message: string; requestId: string } {
  const parsed = JSON.parse(response.body) as { error: { code: string; message: string; requestId: string } };
  assert.deepEqual(Object.keys(parsed.error).sort(), ['code', 'details', 'message', 'requestId']);
  return parsed.error;
}

describe('HTTP limits on a real listener: timeouts, URL and header sizes, client errors', () => {
  let testDb: TestDatabase;
  let runtime: VectorsyncRuntime;
  let app: FastifyInstance;
  let port: number;
  let key: string;

  before(async () => {
    testDb = await createTestDatabase('http_limits');
    await createProductsTable(testDb.db);
    await insertProducts(testDb.db, 'acme', products(3, 11));
    runtime = await openProductsRuntime(testDb, {
      config: productsConfig(testDb, { server: limits as never }),
    });
    app = createServer({ runtime, logger: silentLogger });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
    key = (await createApiKey(testDb.db, { name: 'acme-app', tenant: 'acme' })).key;
  });

  after(async () => {
    await app.close();
    await runtime.close();
    await testDb.drop();
  });

  it('answers a body trickled byte by byte 408 REQUEST_TIMEOUT once server.requestTimeoutMs passes, and closes', async () => {
    let timer: NodeJS.Timeout | undefined;
    const response = await exchange(port, (socket, closed) => {
      socket.write(
        'POST /v1/collections/products/documents HTTP/1.1\r\nHost: test\r\n' +
          `Authorization: Bearer ${key}\r\nContent-Type: application/json\r\n` +
          'Content-Length: 1000\r\nX-Request-Id: trickle-1\r\n\r\n{',
      );
      // One byte every 20 ms keeps the socket busy: only the whole-request limit can end it.
      timer = setInterval(() => {
        if (closed()) clearInterval(timer);
        else socket.write(' ');
      }, 20);
    });
    clearInterval(timer);
    assert.equal(response.status, 408, response.body);
    const error = envelope(response);
    assert.equal(error.code, 'REQUEST_TIMEOUT');
    assert.match(error.message, /400 ms/);
    assert.equal(error.requestId, 'trickle-1', 'the id of the request being received');
    assert.equal(response.headers['x-request-id'], 'trickle-1');
    assert.equal(response.headers.connection, 'close');
    assert.ok(response.closedAfterMs >= limits.requestTimeoutMs, `closed after ${response.closedAfterMs} ms`);
    assert.ok(
      response.closedAfterMs < limits.requestTimeoutMs + 5000,
      `closed after ${response.closedAfterMs} ms`,
    );
  });

  it('answers headers that never end 408 once server.headersTimeoutMs passes', async () => {
    const response = await exchange(port, (socket) => {
      socket.write('GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: ');
    });
    assert.equal(response.status, 408, response.body);
    assert.equal(envelope(response).code, 'REQUEST_TIMEOUT');
    assert.ok(response.closedAfterMs >= limits.headersTimeoutMs, `closed after ${response.closedAfterMs} ms`);
  });

  it('answers a URL over server.maxUrlLength 414 URI_TOO_LONG, in the path or the query', async () => {
    const longId = 'x'.repeat(limits.maxUrlLength + 10);
    for (const path of [
      `/v1/collections/products/documents/${longId}`,
      `/v1/collections/products/search?q=${'y'.repeat(limits.maxUrlLength)}`,
    ]) {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, {
        headers: { authorization: `Bearer ${key}`, 'x-request-id': 'long-url-1' },
      });
      const body = (await response.json()) as { error: { code: string; requestId: string } };
      assert.equal(response.status, 414, JSON.stringify(body));
      assert.equal(body.error.code, 'URI_TOO_LONG');
      assert.equal(body.error.requestId, 'long-url-1');
      assert.equal(response.headers.get('x-request-id'), 'long-url-1');
    }
    const fits = await fetch(
      `http://127.0.0.1:${port}/v1/collections/products/documents/${'z'.repeat(120)}`,
      {
        headers: { authorization: `Bearer ${key}` },
      },
    );
    assert.equal(fits.status, 404, 'a long id within the limit is looked up (not cut at 100 characters)');
    assert.equal(((await fits.json()) as { error: { code: string } }).error.code, 'DOCUMENT_NOT_FOUND');
  });

  it('answers headers over server.maxHeaderBytes 431 HEADERS_TOO_LARGE and bytes that are not HTTP 400', async () => {
    const large = await exchange(port, (socket) => {
      socket.write(
        `GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: ${'b'.repeat(limits.maxHeaderBytes + 100)}\r\n\r\n`,
      );
    });
    assert.equal(large.status, 431, large.body);
    assert.equal(envelope(large).code, 'HEADERS_TOO_LARGE');

    const garbage = await exchange(port, (socket) => {
      socket.write('NOT HTTP AT ALL\r\n\r\n');
    });
    assert.equal(garbage.status, 400, garbage.body);
    const error = envelope(garbage);
    assert.equal(error.code, 'MALFORMED_REQUEST');
    assert.equal(garbage.headers['x-request-id'], error.requestId);
  });

  it('answers a handler slower than server.handlerTimeoutMs 503 HANDLER_TIMEOUT; the write still completes whole', async () => {
    const [product] = products(1, 11);
    const url = `http://127.0.0.1:${port}/v1/collections/products/documents/${product!.article_id}`;
    const before = await (await fetch(url, { headers: { authorization: `Bearer ${key}` } })).json();
    // A transaction holding the row's lock keeps the update waiting past the handler limit.
    let answered: Response | undefined;
    await testDb.db.transaction(async (tx) => {
      await tx.query(`SELECT 1 FROM products WHERE article_id = $1 FOR UPDATE`, [product!.article_id]);
      answered = await fetch(url, {
        method: 'PATCH',
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': 'application/json',
          'x-request-id': 'slow-write-1',
        },
        body: JSON.stringify({ name: 'Renamed while locked' }),
      });
    });
    const body = (await answered!.json()) as { error: { code: string; message: string; requestId: string } };
    assert.equal(answered!.status, 503, JSON.stringify(body));
    assert.equal(body.error.code, 'HANDLER_TIMEOUT');
    assert.match(body.error.message, /1000 ms/);
    assert.equal(body.error.requestId, 'slow-write-1');
    assert.notEqual((before as { name: string }).name, 'Renamed while locked');
    // The lock is gone: the handler that went on commits its write as a whole.
    await waitFor(
      async () => {
        const { rows } = await testDb.db.query<{ name: string }>(
          'SELECT name FROM products WHERE article_id = $1',
          [product!.article_id],
        );
        return rows[0]?.name === 'Renamed while locked';
      },
      { message: 'the timed-out write to land' },
    );
  });
});
