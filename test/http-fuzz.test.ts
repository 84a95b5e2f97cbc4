import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { type FuzzWorld, type KeyKind, keyKinds, openFuzzWorld } from './fuzz/fuzz-world.js';
import { type OpenApiDocument, type Operation, operationsOf } from './fuzz/openapi-operations.js';
import { type FuzzRequest, requestArbitrary } from './fuzz/request-arbitrary.js';
import { ResponseInvariants, shorten } from './fuzz/response-invariants.js';
import { type StateSnapshotter, stateSnapshotter } from './fuzz/state-snapshot.js';

/**
 * Property-based fuzzing of the HTTP API, generated from its own OpenAPI document: every
 * operation with every kind of key, valid and hostile requests, and on every answer the
 * invariants of response-invariants.ts. FUZZ_SEED replays a run, FUZZ_RUNS scales it
 * (docs/testing.md).
 */
const seed = Number(process.env.FUZZ_SEED ?? 20_270_113);
const runs = Number(process.env.FUZZ_RUNS ?? 20);
/** FUZZ_KEEP_GOING=1: list every distinct violation at the end instead of stopping at the first. */
const keepGoing = process.env.FUZZ_KEEP_GOING === '1';

/** Runs for a key the operation accepts; a key it refuses is refused before any parsing. */
function runsFor(operation: Operation, keyKind: KeyKind): number {
  const accepted =
    operation.key === 'none' ||
    (operation.key === 'tenant' && (keyKind === 'tenantA' || keyKind === 'tenantB')) ||
    (operation.key === 'admin' && keyKind === 'admin');
  return accepted ? runs : Math.max(2, Math.ceil(runs / 4));
}

/** A stable per-property seed, so one property's runs do not shift when another's change. */
function seedOf(label: string): number {
  let hash = seed | 0;
  for (const char of label) hash = (Math.imul(hash, 31) + char.charCodeAt(0)) | 0;
  return hash;
}

describe('HTTP fuzzing from /openapi.json', () => {
  let world: FuzzWorld;
  let document: OpenApiDocument;
  let invariants: ResponseInvariants;
  let snapshots: StateSnapshotter;
  const found = new Map<string, string>();
  /** Answers by operation and status: shows how deep the generated requests reach. */
  const statuses = new Map<string, Map<number, number>>();

  before(async () => {
    world = await openFuzzWorld();
    const response = await world.app.inject({ url: '/openapi.json' });
    assert.equal(response.statusCode, 200, response.body);
    document = response.json() as OpenApiDocument;
    const { tenantA, tenantB } = world.secrets;
    invariants = new ResponseInvariants({
      document,
      tells: { tenantA: tenantA.tells, tenantB: tenantB.tells },
      tenantNames: { tenantA: tenantA.tenant, tenantB: tenantB.tenant },
    });
    snapshots = await stateSnapshotter(world.testDb.db, world.runtime, [tenantA.tenant, tenantB.tenant]);
    console.log(`[http-fuzz] FUZZ_SEED=${seed} FUZZ_RUNS=${runs}`);
  });

  after(async () => {
    for (const [operation, counts] of statuses)
      console.log(
        `[http-fuzz] ${operation}: ${[...counts]
          .sort(([a], [b]) => a - b)
          .map(([status, count]) => `${status}×${count}`)
          .join(' ')}`,
      );
    await world?.close();
  });

  /** Sends one request and checks every invariant; throws with the request and the answer. */
  const exercise = async (request: FuzzRequest) => {
    await world.settle();
    const before = await snapshots.take();
    const response = await world.app.inject({
      method: request.method as 'GET',
      url: request.url,
      headers: request.headers,
      ...(request.payload !== undefined ? { payload: request.payload } : {}),
    });
    if (response.statusCode >= 200 && response.statusCode < 300) await world.settle();
    const counts = statuses.get(request.operation) ?? new Map<number, number>();
    counts.set(response.statusCode, (counts.get(response.statusCode) ?? 0) + 1);
    statuses.set(request.operation, counts);
    const after = await snapshots.take();
    const violations = invariants.check(request, response, before, after);
    if (violations.length > 0 && keepGoing) {
      for (const violation of violations) {
        const key = `${violation.invariant} ${request.operation} ${response.statusCode} ${violation.detail.slice(0, 60)}`;
        if (!found.has(key))
          found.set(
            key,
            `[${violation.invariant}] ${violation.detail}\n  ${describeCase(request, response.statusCode, response.body)}`,
          );
      }
    } else if (violations.length > 0) {
      throw new Error(
        `${violations.map((violation) => `[${violation.invariant}] ${violation.detail}`).join('\n')}\n` +
          `${describeCase(request, response.statusCode, response.body)}\n(replay with FUZZ_SEED=${seed})`,
      );
    }
  };

  it('reads the operations from the document', () => {
    const operations = operationsOf(document);
    assert.ok(operations.length >= 20, `only ${operations.length} operations`);
    assert.ok(document.components.schemas.productsDocument && document.components.schemas.gadgetsDocument);
  });

  it('keeps every invariant on every operation, for every kind of key', async () => {
    const operations = operationsOf(document);
    const { tenantA, tenantB } = world.secrets;
    const collections = Object.keys(tenantA.ids);
    const words = ['rain', 'poncho', 'jacket', 'velvet', 'lamp', 'kettle', 'Black', 'Jacket'];
    const ids = Object.fromEntries(
      collections.map((name) => [name, [...tenantA.ids[name]!, ...tenantB.ids[name]!]]),
    );
    let requests = 0;
    for (const operation of operations) {
      for (const keyKind of keyKinds) {
        // A tenant writes only its own strings: the other tenant's would come back in its own
        // data and look like a leak. Paths still probe every tenant's ids.
        const own = keyKind === 'tenantB' ? tenantB : tenantA;
        const pool = [
          own.tenant,
          ...Object.values(own.ids).flat(),
          ...own.ids.gadgets!.map((id) => id.split(',')[1]!),
          ...collections,
          ...words,
        ];
        const arbitrary = requestArbitrary(operation, keyKind, { document, keys: world.keys, pool, ids });
        await fc.assert(
          fc.asyncProperty(arbitrary, async (request) => {
            requests++;
            await exercise(request);
          }),
          {
            seed: seedOf(`${operation.label} ${keyKind}`),
            numRuns: runsFor(operation, keyKind),
            endOnFailure: false,
          },
        );
      }
    }
    assert.equal(found.size, 0, `${found.size} distinct violations:\n${[...found.values()].join('\n')}`);
    console.log(
      `[http-fuzz] ${requests} requests to ${operations.length} operations × ${keyKinds.length} key kinds`,
    );
  });
});

function describeCase(request: FuzzRequest, status: number, body: string): string {
  return (
    `${request.keyKind} key: ${request.method} ${shorten(request.url, 300)}` +
    `${request.payload !== undefined ? ` body ${shorten(request.payload, 300)}` : ''} ` +
    `headers ${shorten(JSON.stringify(request.headers), 200)} → ${status} ${shorten(body, 400)}`
  );
}
